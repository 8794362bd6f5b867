// The real backend against the real operating system: loopback sockets, a temporary directory,
// and dnsmasq (a DNS server nobody here wrote) on a loopback port. Every wait is on an event, with
// a generous bound that is a safety net, never a measurement.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <map>

#include "real/runtime.hpp"
#include "relay/queue.hpp"
#include "support/dns_records.hpp"

using relaysim::testing::records;

extern char** environ;

using namespace relaysim;

namespace {

constexpr Duration bound = std::chrono::seconds(20);

// Temporary directories made by these tests, removed when the test program ends.
struct TemporaryDirectories {
  ~TemporaryDirectories() {
    for (const std::string& path : paths) std::filesystem::remove_all(path);
  }
  std::vector<std::string> paths;
} temporary_directories;

std::string temporary_directory() {
  std::string pattern = (std::filesystem::temp_directory_path() / "relaysim-real-XXXXXX").string();
  REQUIRE(mkdtemp(pattern.data()) != nullptr);
  temporary_directories.paths.push_back(pattern);
  return pattern;
}

io::Endpoint loopback(std::uint16_t port) { return {*io::Address::parse("127.0.0.1"), port}; }

std::uint16_t free_udp_port() {
  const int fd = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t length = sizeof address;
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  close(fd);
  return ntohs(address.sin_port);
}

// dnsmasq serving a small zone on a loopback port, for as long as this object lives.
class Dnsmasq {
 public:
  Dnsmasq() : port_(free_udp_port()) {
    std::vector<std::string> arguments = {"dnsmasq",
                                          "--keep-in-foreground",
                                          "--no-resolv",
                                          "--no-hosts",
                                          "--bind-interfaces",
                                          "--listen-address=127.0.0.1",
                                          "--port=" + std::to_string(port_),
                                          "--pid-file",
                                          "--user=root",
                                          "--local=/example/",
                                          "--mx-host=dest.example,mx1.dest.example,10",
                                          "--mx-host=dest.example,mx2.dest.example,20",
                                          "--host-record=mx1.dest.example,203.0.113.5",
                                          "--host-record=mx2.dest.example,203.0.113.6,2001:db8::6",
                                          "--txt-record=acme.example,v=spf1 ip4:198.51.100.10 -all",
                                          "--cname=mail.acme.example,mx1.dest.example"};
    std::vector<char*> argv;
    for (std::string& argument : arguments) argv.push_back(argument.data());
    argv.push_back(nullptr);
    REQUIRE(posix_spawnp(&pid_, "dnsmasq", nullptr, nullptr, argv.data(), environ) == 0);
  }
  ~Dnsmasq() {
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
  }
  io::Endpoint endpoint() const { return loopback(port_); }

 private:
  std::uint16_t port_;
  pid_t pid_ = -1;
};

}  // namespace

TEST_CASE("real timers fire in deadline order and a cancelled one never fires", "[real]") {
  real::Runtime runtime;
  auto io = runtime.make_io({"timers", "", temporary_directory(), 1, {}, {}, {}, {}, false});
  std::string order;
  io::Pending late = io->after(30ms, [&] { order += "late "; });
  io::Pending early = io->after(5ms, [&] { order += "early "; });
  io::Pending cancelled = io->after(10ms, [&] { order += "cancelled "; });
  cancelled.cancel();
  REQUIRE(runtime.run_until([&] { return order == "early late "; }, bound));
}

TEST_CASE("real loopback streams carry bytes both ways and report a graceful close", "[real]") {
  real::Runtime runtime;
  auto server_io = runtime.make_io({"server", "", temporary_directory(), 1, {}, {}, {}, {}, false});
  auto client_io = runtime.make_io({"client", "", temporary_directory(), 2, {}, {}, {}, {}, false});
  std::vector<std::unique_ptr<io::Connection>> server_connections;
  std::string server_got;
  std::optional<io::CloseReason> server_saw;
  auto listener = server_io->listen(loopback(0), [&](std::unique_ptr<io::Connection> connection) {
    io::Connection* raw = connection.get();
    raw->on_receive([&server_got, raw](std::string_view bytes) {
      server_got.append(bytes);
      raw->send(bytes);  // echo
    });
    raw->on_close([&server_saw](io::CloseReason reason) { server_saw = reason; });
    server_connections.push_back(std::move(connection));
  });
  REQUIRE(listener);
  const io::Endpoint where = listener.value()->local_endpoint();
  CHECK(where.port != 0);

  std::unique_ptr<io::Connection> client;
  std::string client_got;
  io::Pending connecting = client_io->connect(where, {}, [&](io::Result<std::unique_ptr<io::Connection>> result) {
    REQUIRE(result);
    client = std::move(result).value();
    CHECK(client->peer_endpoint() == where);
    client->on_receive([&client_got](std::string_view bytes) { client_got.append(bytes); });
    client->send("EHLO client.example\r\n");
  });
  REQUIRE(runtime.run_until([&] { return client_got == "EHLO client.example\r\n"; }, bound));
  CHECK(server_got == "EHLO client.example\r\n");
  client.reset();  // graceful close
  REQUIRE(runtime.run_until([&] { return server_saw.has_value(); }, bound));
  CHECK(*server_saw == io::CloseReason::closed_by_peer);
}

TEST_CASE("real connections report refusal and a peer's abort", "[real]") {
  real::Runtime runtime;
  auto io = runtime.make_io({"node", "", temporary_directory(), 1, {}, {}, {}, {}, false});
  // A port that was just ours and is now closed: nothing listens there.
  std::uint16_t closed_port = 0;
  {
    auto listener = io->listen(loopback(0), [](auto) {});
    REQUIRE(listener);
    closed_port = listener.value()->local_endpoint().port;
  }
  std::optional<io::Errc> refused;
  io::Pending attempt = io->connect(loopback(closed_port), {}, [&](auto result) {
    REQUIRE_FALSE(result);
    refused = result.error().code;
  });
  REQUIRE(runtime.run_until([&] { return refused.has_value(); }, bound));
  CHECK(*refused == io::Errc::refused);

  std::unique_ptr<io::Connection> accepted;
  auto listener = io->listen(loopback(0), [&](std::unique_ptr<io::Connection> connection) {
    accepted = std::move(connection);
    accepted->on_receive([&](std::string_view) { accepted->abort(); });  // reset on the first byte
  });
  std::unique_ptr<io::Connection> client;
  std::optional<io::CloseReason> client_saw;
  io::Pending connecting = io->connect(listener.value()->local_endpoint(), {}, [&](auto result) {
    INFO((result ? std::string("connected") : result.error().detail));
    REQUIRE(result);
    client = std::move(result).value();
    client->on_close([&](io::CloseReason reason) { client_saw = reason; });
    client->send("x");
  });
  REQUIRE(runtime.run_until([&] { return client_saw.has_value(); }, bound));
  CHECK(*client_saw == io::CloseReason::reset);
}

TEST_CASE("real files: append, fsync, directory sync, read back, list, rename, remove", "[real]") {
  real::Runtime runtime;
  const std::string root = temporary_directory() + "/queue-root";  // created by the Io
  auto io = runtime.make_io({"files", "", root, 1, {}, {}, {}, {}, false});
  REQUIRE(io->make_directory("active/deep"));
  auto file = io->create_file("active/B");
  REQUIRE(file);
  REQUIRE(file.value()->append("hello "));
  REQUIRE(file.value()->append("world"));
  CHECK(file.value()->size() == 11);
  int synced = 0;
  io::Pending file_sync = file.value()->sync([&](io::Status status) {
    CHECK(status);
    ++synced;
  });
  io::Pending directory_sync = io->sync_directory("active", [&](io::Status status) {
    CHECK(status);
    ++synced;
  });
  REQUIRE(runtime.run_until([&] { return synced == 2; }, bound));
  CHECK(io->read_file("active/B").value() == "hello world");
  CHECK(io->read_file_range("active/B", 6, 3).value() == "wor");
  CHECK(io->read_file_range("active/B", 6, 100).value() == "world");  // short where the file ends
  CHECK(io->read_file_range("active/B", 20, 4).value().empty());
  CHECK(io->read_file_range("active/none", 0, 4).error().code == io::Errc::not_found);
  CHECK(io->create_file("active/B").error().code == io::Errc::already_exists);
  REQUIRE(io->create_file("active/A"));
  CHECK(io->list_directory("active").value() == std::vector<std::string>{"A", "B", "deep"});
  REQUIRE(io->rename_file("active/B", "active/C"));
  CHECK(io->read_file("active/B").error().code == io::Errc::not_found);
  CHECK(io->read_file("active/C").value() == "hello world");
  auto reopened = io->open_for_append("active/C");
  REQUIRE(reopened);
  CHECK(reopened.value()->size() == 11);
  REQUIRE(io->remove_file("active/C"));
  CHECK(io->create_file("../escape").error().code == io::Errc::invalid_argument);
  CHECK(io->create_file("/etc/passwd").error().code == io::Errc::invalid_argument);
  std::filesystem::remove_all(std::filesystem::path(root).parent_path());
}

TEST_CASE("real DNS answers MX, A, AAAA, TXT, CNAME and PTR from dnsmasq, and NXDOMAIN", "[real][dns]") {
  Dnsmasq dnsmasq;
  real::Runtime runtime;
  real::NodeOptions options{"resolver", "",   temporary_directory(), 1, dnsmasq.endpoint(), std::chrono::seconds(2), {},
                            {},         false};
  auto io = runtime.make_io(options);

  // dnsmasq needs a moment to start: ask until it answers, within the bound.
  std::optional<io::DnsAnswer> mx;
  std::function<void()> ask_mx;
  io::Pending query;
  ask_mx = [&] {
    query = io->resolve("dest.example", io::DnsType::mx, [&](const io::DnsAnswer& answer) {
      if (answer.temporary_failure()) {
        ask_mx();
      } else {
        mx = answer;
      }
    });
  };
  ask_mx();
  REQUIRE(runtime.run_until([&] { return mx.has_value(); }, bound));
  REQUIRE(mx->status == io::DnsStatus::ok);
  std::vector<io::MxRecord> records = mx->mx;
  std::sort(records.begin(), records.end());
  CHECK(records == std::vector<io::MxRecord>{{10, "mx1.dest.example"}, {20, "mx2.dest.example"}});

  std::map<std::string, io::DnsAnswer> answers;
  std::vector<io::Pending> queries;
  const auto ask = [&](const std::string& label, const std::string& name, io::DnsType type) {
    queries.push_back(
        io->resolve(name, type, [&answers, label](const io::DnsAnswer& answer) { answers[label] = answer; }));
  };
  ask("a", "mx2.dest.example", io::DnsType::a);
  ask("aaaa", "mx2.dest.example", io::DnsType::aaaa);
  ask("txt", "acme.example", io::DnsType::txt);
  ask("cname", "mail.acme.example", io::DnsType::a);
  ask("nx", "nobody.example", io::DnsType::mx);
  ask("ptr", io::reverse_name(*io::Address::parse("203.0.113.5")),
      io::DnsType::ptr);  // --host-record makes the PTR too
  REQUIRE(runtime.run_until([&] { return answers.size() == 6; }, bound));
  CHECK(answers["ptr"].names == std::vector<std::string>{"mx1.dest.example"});
  CHECK(answers["a"].addresses == std::vector<io::Address>{*io::Address::parse("203.0.113.6")});
  CHECK(answers["aaaa"].addresses == std::vector<io::Address>{*io::Address::parse("2001:db8::6")});
  CHECK(answers["txt"].texts == std::vector<std::string>{"v=spf1 ip4:198.51.100.10 -all"});
  CHECK(answers["cname"].canonical_name == "mx1.dest.example");
  CHECK(answers["cname"].addresses == std::vector<io::Address>{*io::Address::parse("203.0.113.5")});
  CHECK(answers["nx"].status == io::DnsStatus::nxdomain);
}

TEST_CASE("real DNS answers from static records first, and only from them when told", "[real][dns]") {
  auto zone = std::make_shared<io::Zone>();
  zone->set("dest.example", records().mx(10, "mx1.dest.example"));
  zone->set("mx1.dest.example", records().a("127.0.0.1"));
  real::Runtime runtime;
  real::NodeOptions options{"resolver", "", temporary_directory(), 1, {}, std::chrono::seconds(2), {}, zone, true};
  auto io = runtime.make_io(options);
  std::map<std::string, io::DnsAnswer> answers;
  std::vector<io::Pending> queries;
  const auto ask = [&](const std::string& label, const std::string& name, io::DnsType type) {
    queries.push_back(
        io->resolve(name, type, [&answers, label](const io::DnsAnswer& answer) { answers[label] = answer; }));
  };
  ask("mx", "Dest.Example.", io::DnsType::mx);
  ask("a", "mx1.dest.example", io::DnsType::a);
  ask("nodata", "dest.example", io::DnsType::a);
  ask("unknown", "example.org", io::DnsType::mx);
  REQUIRE(runtime.run_until([&] { return answers.size() == 4; }, bound));
  CHECK(answers["mx"].mx == std::vector<io::MxRecord>{{10, "mx1.dest.example"}});
  CHECK(answers["a"].addresses == std::vector<io::Address>{*io::Address::parse("127.0.0.1")});
  CHECK(answers["nodata"].status == io::DnsStatus::ok);
  CHECK(answers["nodata"].empty());
  // Only the static records: a name they do not know does not exist.
  CHECK(answers["unknown"].status == io::DnsStatus::nxdomain);
}

TEST_CASE("a real node with a fixed seed draws the same random stream every time", "[real]") {
  real::Runtime runtime;
  auto first = runtime.make_io({"node", "", temporary_directory(), 42, {}, {}, {}, {}, false});
  auto second = runtime.make_io({"node", "", temporary_directory(), 42, {}, {}, {}, {}, false});
  CHECK(first->random_stream("backoff").next() == second->random_stream("backoff").next());
}

TEST_CASE("the queue on a real disk: stored with fsync, recovered by a new process, listed by relaysim queue",
          "[real][queue]") {
  const std::string root = temporary_directory();
  relay::QueueId key;
  {
    real::Runtime runtime;
    auto io = runtime.make_io({"relay", "", root, 1, {}, {}, {}, {}, false});
    relay::Queue queue(*io, "queue");
    REQUIRE(queue.recover().problems.empty());
    relay::QueuedMessage message;
    message.arrival = io->now();
    message.sender = smtp::Mailbox{"news", "acme.example", false, false};
    message.recipients.push_back(
        {{smtp::Mailbox{"ann", "dest.example", false, false}, {}}, relay::RecipientState::queued, 0, io->now(), ""});
    message.content = "Subject: real disk\r\n\r\nbody\r\n";
    bool done = false;
    queue.store(message, [&](io::Result<relay::QueueId> stored) {
      REQUIRE(stored);
      key = stored.value();
      done = true;
    });
    REQUIRE(runtime.run_until([&] { return done; }, bound));
  }
  {
    real::Runtime runtime;
    auto io = runtime.make_io({"relay", "", root, 2, {}, {}, {}, {}, false});
    relay::Queue queue(*io, "queue");
    const relay::RecoveryReport report = queue.recover();
    CHECK(report.recovered == 1);
    REQUIRE(queue.find(key) != nullptr);
    CHECK(queue.content(key).value() == "Subject: real disk\r\n\r\nbody\r\n");
  }
  const std::string id = key.to_string();
  const std::string command = std::string(RELAYSIM_BINARY_DIR "/relaysim queue list ") + root + "/queue";
  std::FILE* pipe = popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string output;
  char buffer[4096];
  while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) output += buffer;
  CHECK(pclose(pipe) == 0);
  CHECK_THAT(output, Catch::Contains(id));
  CHECK_THAT(output, Catch::Contains("ann@dest.example (queued"));
  CHECK_THAT(output, Catch::Contains("-- 1 Kbytes in 1 Requests."));

  // The operator's changes, each durable, each visible to the next command.
  const auto relaysim_queue = [&](const std::string& arguments, int& status) {
    std::FILE* command_pipe =
        popen((std::string(RELAYSIM_BINARY_DIR "/relaysim queue ") + arguments + " 2>&1").c_str(), "r");
    std::string text;
    char line[4096];
    while (command_pipe != nullptr && std::fgets(line, sizeof line, command_pipe) != nullptr) text += line;
    status = command_pipe == nullptr ? -1 : WEXITSTATUS(pclose(command_pipe));
    return text;
  };
  int status = 0;
  CHECK(relaysim_queue("hold " + root + "/queue " + id, status) == id + ": placed on hold\n");
  CHECK(status == 0);
  CHECK_THAT(relaysim_queue("list " + root + "/queue", status), Catch::Contains(id + "!"));
  CHECK(relaysim_queue("release " + root + "/queue ALL", status) == id + ": released from hold\n");
  CHECK_THAT(relaysim_queue("list " + root + "/queue", status), !Catch::Contains(id + "!"));
  CHECK(relaysim_queue("flush " + root + "/queue", status) == id + ": due now\n");
  CHECK_THAT(relaysim_queue("delete " + root + "/queue 064C06CFCC0CB8000086BA", status),
             Catch::Contains("no message 064C06CFCC0CB8000086BA"));
  CHECK(status == 1);
  CHECK_THAT(relaysim_queue("delete " + root + "/queue NOSUCHID", status),
             Catch::Contains("'NOSUCHID' is not a queue id"));
  CHECK(status == 2);
  CHECK_THAT(relaysim_queue("hold " + root + "/queue", status), Catch::Contains("hold needs a queue id or ALL"));
  CHECK(status == 2);
  CHECK(relaysim_queue("delete " + root + "/queue " + id, status) == id + ": removed\n");
  CHECK_THAT(relaysim_queue("list " + root + "/queue", status), Catch::Contains("Mail queue is empty"));
}
