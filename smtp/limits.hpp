#pragma once
// Every SMTP limit, named with its unit, citing the RFC where one applies.

#include <cstddef>

#include "io/time.hpp"

namespace relaysim::smtp {

inline constexpr std::size_t command_line_bytes_max = 512;     // RFC 5321 §4.5.3.1.4, CRLF included
inline constexpr std::size_t reply_line_bytes_max = 512;       // RFC 5321 §4.5.3.1.5, CRLF included
inline constexpr std::size_t text_line_bytes_max = 1000;       // RFC 5321 §4.5.3.1.6, CRLF included
inline constexpr std::size_t local_part_bytes_max = 64;        // RFC 5321 §4.5.3.1.1
inline constexpr std::size_t domain_bytes_max = 255;           // RFC 5321 §4.5.3.1.2
inline constexpr std::size_t path_bytes_max = 256;             // RFC 5321 §4.5.3.1.3, brackets included
inline constexpr std::size_t recipients_minimum_buffer = 100;  // RFC 5321 §4.5.3.1.8: at least this many
// An AUTH exchange line may carry a long base64 blob (RFC 4954 §4 lifts the 512-byte limit).
inline constexpr std::size_t auth_line_bytes_max = 12288;
// Reply lines a client accepts in one multi-line reply before calling it malformed.
inline constexpr std::size_t reply_lines_max = 100;

// Postfix's defaults where Postfix has the concept.
inline constexpr std::size_t message_size_bytes_default = 10'240'000;          // message_size_limit
inline constexpr std::size_t recipients_default_max = 1000;                    // smtpd_recipient_limit
inline constexpr int soft_error_limit_default = 10;                            // smtpd_soft_error_limit
inline constexpr int hard_error_limit_default = 20;                            // smtpd_hard_error_limit
inline constexpr Duration error_sleep_time_default = std::chrono::seconds(1);  // smtpd_error_sleep_time
inline constexpr int junk_command_limit_default = 100;                         // smtpd_junk_command_limit

// RFC 5321 §4.5.3.2: server timeout 5 minutes; client timeouts per stage.
inline constexpr Duration server_command_timeout = std::chrono::minutes(5);     // §4.5.3.2.7
inline constexpr Duration client_greeting_timeout = std::chrono::minutes(5);    // §4.5.3.2.1
inline constexpr Duration client_mail_timeout = std::chrono::minutes(5);        // §4.5.3.2.2
inline constexpr Duration client_rcpt_timeout = std::chrono::minutes(5);        // §4.5.3.2.3
inline constexpr Duration client_data_init_timeout = std::chrono::minutes(2);   // §4.5.3.2.4
inline constexpr Duration client_data_block_timeout = std::chrono::minutes(3);  // §4.5.3.2.5
inline constexpr Duration client_data_done_timeout = std::chrono::minutes(10);  // §4.5.3.2.6

static_assert(recipients_default_max >= recipients_minimum_buffer);
static_assert(soft_error_limit_default < hard_error_limit_default);
static_assert(path_bytes_max < command_line_bytes_max);
static_assert(local_part_bytes_max + 1 + domain_bytes_max + 2 >= path_bytes_max);

}  // namespace relaysim::smtp
