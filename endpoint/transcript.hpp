#pragma once
// Session transcripts: "C: ..." and "S: ..." lines, as people read SMTP dialogues.

#include <string>
#include <string_view>

namespace relaysim::endpoint {

// Past this many bytes a transcript stops growing: it is for people, not an archive of bodies.
inline constexpr std::size_t transcript_bytes_max = 64 * 1024;

inline void append_transcript(std::string& transcript, std::string_view direction, std::string_view bytes) {
  std::size_t start = 0;
  while (start < bytes.size() && transcript.size() <= transcript_bytes_max) {
    std::size_t end = bytes.find('\n', start);
    if (end == std::string_view::npos) end = bytes.size();
    std::string_view line = bytes.substr(start, end - start);
    if (line.ends_with('\r')) line.remove_suffix(1);
    transcript.append(direction).append(line).append("\n");
    start = end + 1;
  }
}

}  // namespace relaysim::endpoint
