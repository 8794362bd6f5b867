#pragma once
// gzip (RFC 1952) through zlib: TLS reports travel gzipped (RFC 8460 5.3), in mail and HTTPS POSTs.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace relaysim::io {

std::string gzip(std::string_view bytes);
// The bytes a whole gzip stream holds; none for anything else, or past `bytes_max`.
std::optional<std::string> gunzip(std::string_view bytes, std::size_t bytes_max);

}  // namespace relaysim::io
