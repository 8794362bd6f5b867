#pragma once
// What a process keeps of the TLS material it made for deterministic worlds - forged certificates
// and OpenSSL contexts - by identity. Everything kept is a function of its identity alone, so a hit
// gives what a miss would make, byte for byte. Bounded: when full it starts over.

#include <map>
#include <memory>
#include <mutex>
#include <string>

struct ssl_ctx_st;

namespace relaysim::tls {

class Certificate;

template <typename T>
class ProcessCache {
 public:
  static constexpr std::size_t capacity = 512;

  std::shared_ptr<T> find(const std::string& identity) {
    std::lock_guard lock(mutex_);
    const auto found = entries_.find(identity);
    return found == entries_.end() ? nullptr : found->second;
  }
  void keep(const std::string& identity, std::shared_ptr<T> value) {
    std::lock_guard lock(mutex_);
    if (entries_.size() >= capacity) entries_.clear();
    entries_[identity] = std::move(value);
  }
  void clear() {
    std::lock_guard lock(mutex_);
    entries_.clear();
  }

 private:
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<T>> entries_;
};

ProcessCache<Certificate>& forged_certificates();
ProcessCache<ssl_ctx_st>& made_contexts();

}  // namespace relaysim::tls
