#include "sim/file_bytes.hpp"

#include <algorithm>

namespace relaysim::sim {
namespace {

// Spare chunks, each with chunk_bytes of capacity. Per thread: worlds on different threads never
// share one, and no simulated outcome depends on where a chunk's memory came from.
thread_local std::vector<std::string> spare_chunks;

std::string new_chunk() {
  if (spare_chunks.empty()) {
    std::string chunk;
    chunk.reserve(FileBytes::chunk_bytes);
    return chunk;
  }
  std::string chunk = std::move(spare_chunks.back());
  spare_chunks.pop_back();
  return chunk;
}

void give_back(std::string&& chunk) {
  if (chunk.capacity() < FileBytes::chunk_bytes || spare_chunks.size() >= FileBytes::spare_chunks_max) return;
  chunk.clear();
  spare_chunks.push_back(std::move(chunk));
}

}  // namespace

FileBytes::~FileBytes() {
  for (std::string& chunk : chunks_) give_back(std::move(chunk));
}

void FileBytes::append(std::string_view bytes) {
  while (!bytes.empty()) {
    if (chunks_.empty() || chunks_.back().size() == chunk_bytes) {
      // The first chunk of a file grows as a plain string: most files are small.
      chunks_.push_back(chunks_.empty() ? std::string() : new_chunk());
    }
    std::string& last = chunks_.back();
    const std::size_t take = std::min(bytes.size(), chunk_bytes - last.size());
    last.append(bytes.substr(0, take));
    bytes.remove_prefix(take);
    size_ += take;
  }
}

void FileBytes::truncate(std::size_t size) {
  if (size >= size_) return;
  const std::size_t keep_chunks = (size + chunk_bytes - 1) / chunk_bytes;
  for (std::size_t i = keep_chunks; i < chunks_.size(); ++i) give_back(std::move(chunks_[i]));
  chunks_.resize(keep_chunks);
  if (!chunks_.empty()) chunks_.back().resize(size - (keep_chunks - 1) * chunk_bytes);
  size_ = size;
}

void FileBytes::zero(std::size_t offset, std::size_t count) {
  const std::size_t end = std::min(size_, offset + count);
  for (std::size_t at = offset; at < end;) {
    std::string& chunk = chunks_[at / chunk_bytes];
    const std::size_t within = at % chunk_bytes;
    const std::size_t take = std::min(end - at, chunk.size() - within);
    std::fill_n(chunk.begin() + static_cast<std::ptrdiff_t>(within), take, '\0');
    at += take;
  }
}

std::string FileBytes::read(std::size_t offset, std::size_t length) const {
  std::string out;
  if (offset >= size_) return out;
  const std::size_t end = offset + std::min(length, size_ - offset);
  out.reserve(end - offset);
  for (std::size_t at = offset; at < end;) {
    const std::string& chunk = chunks_[at / chunk_bytes];
    const std::size_t within = at % chunk_bytes;
    const std::size_t take = std::min(end - at, chunk.size() - within);
    out.append(chunk, within, take);
    at += take;
  }
  return out;
}

}  // namespace relaysim::sim
