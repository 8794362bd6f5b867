#include <array>

#include <rapidcheck/catch.h>
#include <catch2/catch.hpp>

#include "relay/queue.hpp"
#include "relay/record.hpp"
#include "relay/relay_node.hpp"
#include "support/client_dialogue.hpp"
#include "support/smtp_nodes.hpp"
#include "support/test_world.hpp"

using namespace relaysim;
using namespace relaysim::testing;
using relay::QueuedMessage;
using relay::QueuedRecipient;
using relay::RecipientState;

namespace {

QueuedMessage sample_message(std::string content = "Subject: hi\r\n\r\nbody\r\n") {
  QueuedMessage message;
  message.arrival = t0();
  message.sender = mailbox("news@acme.example");
  message.parameters.size = 42;
  message.parameters.ret = "HDRS";
  message.parameters.envid = "env-1";
  smtp::Recipient ann{mailbox("ann@dest.example"), {}};
  ann.dsn.notify_given = true;
  ann.dsn.notify_failure = true;
  ann.dsn.orcpt_type = "rfc822";
  ann.dsn.orcpt = "ann@dest.example";
  message.recipients.push_back({ann, RecipientState::queued, 0, t0(), ""});
  message.recipients.push_back({{mailbox("bob@dest.example"), {}}, RecipientState::queued, 0, t0(), ""});
  message.content = std::move(content);
  message.client_address = "13.108.0.1";
  message.helo = "sfdc.example";
  message.authenticated_user = "sfdc";
  return message;
}

}  // namespace

TEST_CASE("CRC-32C matches its published check value", "[relay][queue]") {
  CHECK(relay::crc32c("123456789") == 0xE3069283u);  // RFC 3720 / iSCSI
  CHECK(relay::crc32c("") == 0u);
  rc::prop("the hardware lanes agree with the table, chained or not", [] {
    const auto bytes =
        *rc::gen::container<std::string>(*rc::gen::inRange<std::size_t>(0, 3000), rc::gen::arbitrary<char>());
    const auto split = *rc::gen::inRange<std::size_t>(0, bytes.size() + 1);
    const std::string_view all(bytes);
    RC_ASSERT(relay::crc32c(all) == relay::crc32c_portable(all));
    RC_ASSERT(relay::crc32c(all.substr(split), relay::crc32c(all.substr(0, split))) == relay::crc32c_portable(all));
  });
}

TEST_CASE("a record reads back whole, and any torn or flipped version is refused", "[relay][queue]") {
  const std::string record = relay::frame_record(7, "payload bytes");
  std::size_t consumed = 0;
  const auto whole = relay::read_record(record, consumed);
  REQUIRE(whole);
  CHECK(whole->kind == 7);
  CHECK(whole->payload == "payload bytes");
  CHECK(consumed == record.size());
  for (std::size_t cut = 0; cut < record.size(); ++cut) {
    CHECK_FALSE(relay::read_record(std::string_view(record).substr(0, cut), consumed));
  }
  for (std::size_t at = 0; at < record.size(); ++at) {
    std::string flipped = record;
    flipped[at] = static_cast<char>(flipped[at] ^ 0x20);
    CHECK_FALSE(relay::read_record(flipped, consumed));
  }
}

TEST_CASE("a record sealed in place is the same bytes as one framed from its payload", "[relay][queue]") {
  for (const std::size_t room : {std::size_t{0}, std::size_t{5}, std::size_t{4096}}) {
    relay::Writer writer = relay::Writer::for_record(room);
    writer.text("payload");
    writer.u64(42);
    relay::Writer plain;
    plain.text("payload");
    plain.u64(42);
    CHECK(std::move(writer).seal(3) == relay::frame_record(3, plain.bytes()));
  }
}

TEST_CASE("a queued message encodes and decodes to the same envelope and content", "[relay][queue]") {
  QueuedMessage message = sample_message();
  message.id = *relay::QueueId::parse("064C06CFCC0CB8000086BA");
  const auto decoded = relay::decode_message(relay::encode_message(message));
  REQUIRE(decoded);
  CHECK(decoded->id.to_string() == "064C06CFCC0CB8000086BA");
  CHECK(decoded->sender == message.sender);
  CHECK(decoded->parameters.envid == "env-1");
  CHECK(decoded->recipients.size() == 2);
  CHECK(decoded->recipients[0].recipient.dsn.orcpt == "ann@dest.example");
  CHECK(decoded->recipients[0].recipient.dsn.notify_failure);
  CHECK(decoded->content == message.content);
  CHECK(decoded->authenticated_user == "sfdc");
  CHECK_FALSE(relay::decode_message(relay::encode_message(message).substr(1)));
}

TEST_CASE("the summary packs the recipients' addresses and gives them back, or none when one cannot be packed",
          "[relay][queue]") {
  QueuedMessage message = sample_message();
  message.recipients[1].recipient.mailbox = smtp::Mailbox{"c d", "dest.example", true, false};
  message.recipients.push_back({smtp::Recipient{smtp::Mailbox{"ops", "[192.0.2.7]", false, true}, {}},
                                RecipientState::queued, 0, Instant(), "", false});
  const relay::QueueEntry entry = relay::summarize(message);
  CHECK_FALSE(entry.null_sender);
  const auto addresses = entry.recipient_addresses();
  REQUIRE(addresses);
  REQUIRE(addresses->size() == 3);
  for (std::size_t i = 0; i < 3; ++i) CHECK((*addresses)[i].mailbox == message.recipients[i].recipient.mailbox);
  CHECK((*addresses)[0].has_orcpt);  // the file has more than the summary: a deferral reads it
  CHECK_FALSE((*addresses)[1].has_orcpt);
  CHECK((*addresses)[1].mailbox.to_string() == "\"c d\"@dest.example");

  message.sender.reset();
  message.recipients[2].recipient.mailbox.local = std::string(300, 'x');  // past what a length byte holds
  const relay::QueueEntry unpacked = relay::summarize(message);
  CHECK(unpacked.null_sender);
  CHECK(unpacked.packed_recipients.empty());
  CHECK_FALSE(unpacked.recipient_addresses());
}

namespace {

// A node that owns a queue: it recovers at start, then runs `body` with the queue.
struct QueueProbe {
  std::vector<QueuedMessage> recovered;
  relay::RecoveryReport report;
};

// The queue belongs to the node, so it dies with it at a crash, like the relay's would.
void add_queue_node(sim::World& world, QueueProbe& probe, std::function<void(relay::Queue&, io::Io&)> body,
                    relay::JournalOptions journal = {}) {
  add_lambda_node(world, "relay", "a", [&probe, body, journal](LambdaNode& node) {
    auto queue = std::make_shared<relay::Queue>(node.io, "queue", journal);
    node.keep_alive = queue;
    probe.report = queue->recover();
    probe.recovered.clear();
    for (const relay::QueueId& id : queue->ids()) {
      const relay::QueueEntry& entry = *queue->find(id);
      probe.recovered.push_back(queue->load(id).value());  // the queue keeps only a summary in memory
      CHECK(entry.size == probe.recovered.back().content.size());
      CHECK(entry.recipients.size() == probe.recovered.back().recipients.size());
    }
    body(*queue, node.io);
  });
}

}  // namespace

TEST_CASE("a stored message is recovered after a power loss, with its recipient states", "[relay][queue]") {
  sim::World world(1, t0());
  world.add_host({"a", {address("10.0.0.1")}});
  QueueProbe probe;
  relay::QueueId stored_id;
  bool started_once = false;
  add_queue_node(world, probe, [&](relay::Queue& queue, io::Io&) {
    if (started_once) return;
    started_once = true;
    queue.store(sample_message(), [&, &queue = queue](io::Result<relay::QueueId> id) {
      REQUIRE(id);
      stored_id = id.value();
      QueuedRecipient deferred = queue.load(stored_id).value().recipients[0];
      deferred.state = RecipientState::deferred;
      deferred.attempts = 1;
      deferred.last_reply = "450 4.2.0 Greylisted";
      queue.update(stored_id, 0, deferred, [](io::Status status) { REQUIRE(status); });
    });
  });
  world.crash_at("relay", t0() + 1s);
  world.restart_at("relay", t0() + 2s);
  world.start();
  world.run_until(t0() + 1min);
  REQUIRE(probe.recovered.size() == 1);
  const QueuedMessage& message = probe.recovered[0];
  CHECK(message.id == stored_id);
  CHECK(message.content == sample_message().content);
  CHECK(message.recipients[0].state == RecipientState::deferred);
  CHECK(message.recipients[0].last_reply == "450 4.2.0 Greylisted");
  CHECK(message.recipients[1].state == RecipientState::queued);
}

TEST_CASE("the first load of a message just stored comes from memory and equals what is on disk", "[relay][queue]") {
  const bool journal = GENERATE(false, true);
  CAPTURE(journal);
  sim::World world(1, t0());
  world.add_host({"a", {address("10.0.0.1")}});
  QueueProbe probe;
  std::string from_memory, from_disk, second_load;
  std::size_t fresh_after_store = 0, fresh_after_load = 99;
  bool held_forgets = false;
  add_queue_node(
      world, probe,
      [&](relay::Queue& queue, io::Io& io) {
        queue.store(sample_message(), [&, &queue = queue, &io = io](io::Result<relay::QueueId> id) {
          REQUIRE(id);
          fresh_after_store = queue.fresh_bytes();
          from_memory = relay::encode_message(queue.load(id.value()).value());
          fresh_after_load = queue.fresh_bytes();
          if (journal) {
            // The message's only copy is its record in the journal's first segment.
            CHECK_FALSE(io.read_file("queue/" + id.value().to_string()));
            const auto segment = io.read_file("queue/journal/0000000000000001");
            REQUIRE(segment);
            std::size_t consumed = 0;
            const auto record = relay::read_record(segment.value(), consumed);
            REQUIRE(record);
            from_disk = relay::encode_message(*relay::decode_message(record->payload));
          } else {
            const auto file = io.read_file("queue/" + id.value().to_string());
            REQUIRE(file);
            from_disk = relay::encode_message(*relay::replay_queue_file(file.value(), id.value()));
          }
          second_load = relay::encode_message(queue.load(id.value()).value());
          // A change forgets the copy in memory: a load then reads the disk.
          queue.store(sample_message("Subject: second\r\n\r\n"), [&, &queue = queue](io::Result<relay::QueueId> other) {
            queue.set_held(other.value(), true, [&, &queue = queue, other = other.value()](io::Status status) {
              REQUIRE(status);
              held_forgets = queue.fresh_bytes() == 0 && queue.load(other).value().content == "Subject: second\r\n\r\n";
            });
          });
        });
      },
      relay::JournalOptions{journal});
  world.start();
  world.run_until(t0() + 1min);
  CHECK(fresh_after_store == sample_message().content.size());
  CHECK(fresh_after_load == 0);
  CHECK_FALSE(from_memory.empty());
  CHECK(from_memory == from_disk);
  CHECK(second_load == from_disk);
  CHECK(held_forgets);
}

TEST_CASE("a message whose recipients are all final leaves the queue", "[relay][queue]") {
  sim::World world(1, t0());
  world.add_host({"a", {address("10.0.0.1")}});
  QueueProbe probe;
  bool started_once = false;
  std::size_t left_after_updates = 99;
  add_queue_node(world, probe, [&](relay::Queue& queue, io::Io&) {
    if (started_once) return;
    started_once = true;
    queue.store(sample_message(), [&, &queue = queue](io::Result<relay::QueueId> id) {
      QueuedRecipient done = queue.load(id.value()).value().recipients[0];
      done.state = RecipientState::delivered;
      queue.update(id.value(), 0, done, [&, &queue = queue, id = id.value(), done](io::Status) mutable {
        done.state = RecipientState::bounced;
        queue.update(id, 1, done, [&](io::Status) { left_after_updates = queue.size(); });
      });
    });
  });
  world.crash_at("relay", t0() + 1s);
  world.restart_at("relay", t0() + 2s);
  world.start();
  world.run_until(t0() + 1min);
  CHECK(left_after_updates == 0);
  CHECK(probe.recovered.empty());
  CHECK(probe.report.discarded == 0);
}

namespace {

std::vector<std::string> names_in(io::Io& io, std::string_view directory) {
  auto names = io.list_directory(directory);
  return names ? names.value() : std::vector<std::string>{};
}

QueuedRecipient with_state(const QueuedMessage& message, std::size_t index, RecipientState state) {
  QueuedRecipient recipient = message.recipients[index];
  recipient.state = state;
  recipient.attempts += 1;
  recipient.last_reply = state == RecipientState::deferred ? "450 4.2.0 Greylisted" : "250 2.0.0 Ok";
  return recipient;
}

}  // namespace

TEST_CASE("journal: a message delivered at once never gets a file, and a power loss does not bring it back",
          "[relay][queue][journal]") {
  sim::World world(1, t0());
  world.add_host({"a", {address("10.0.0.1")}});
  QueueProbe probe;
  bool started_once = false;
  std::vector<std::string> queue_names_after = {"?"};
  relay::QueueId kept_id;
  add_queue_node(world, probe, [&](relay::Queue& queue, io::Io& io) {
    if (started_once) return;
    started_once = true;
    queue.store(sample_message(), [&, &queue = queue, &io = io](io::Result<relay::QueueId> id) {
      REQUIRE(id);
      const QueuedMessage message = queue.load(id.value()).value();
      std::vector<relay::Queue::StateChange> delivered = {{0, with_state(message, 0, RecipientState::delivered)},
                                                          {1, with_state(message, 1, RecipientState::delivered)}};
      queue.update(id.value(), std::move(delivered), [&, &queue = queue, &io = io](io::Status status) {
        REQUIRE(status);
        CHECK(queue.size() == 0);
        // A second message's commit makes the first one's removal record durable too.
        queue.store(sample_message("Subject: kept\r\n\r\n"), [&, &io = io](io::Result<relay::QueueId> other) {
          REQUIRE(other);
          kept_id = other.value();
          queue_names_after = names_in(io, "queue");
        });
      });
    });
  });
  world.crash_at("relay", t0() + 1s, sim::CrashKind::power_loss);
  world.restart_at("relay", t0() + 2s);
  world.start();
  world.run_until(t0() + 1min);
  CHECK(queue_names_after == std::vector<std::string>{"journal"});  // no message file was made
  REQUIRE(probe.recovered.size() == 1);
  CHECK(probe.recovered[0].id == kept_id);
  CHECK(probe.report.discarded == 0);
}

TEST_CASE(
    "journal: a message bounced after it got a file, cut off by a power loss before its removal is recorded, "
    "stays finished through two restarts",
    "[relay][queue][journal]") {
  sim::World world(1, t0());
  world.add_host({"a", {address("10.0.0.1")}});
  QueueProbe probe;
  int starts = 0;
  std::vector<std::size_t> recovered_per_start;
  std::vector<std::size_t> finished_per_start;
  relay::QueueId bounced_id;
  add_queue_node(world, probe, [&](relay::Queue& queue, io::Io& io) {
    starts += 1;
    recovered_per_start.push_back(probe.recovered.size());
    finished_per_start.push_back(probe.report.finished);
    if (starts > 1) return;
    // Two messages in one segment: the other keeps the segment, and with it the first's record.
    queue.store(sample_message("Subject: other\r\n\r\n"), [](io::Result<relay::QueueId> id) { REQUIRE(id); });
    queue.store(sample_message(), [&, &queue = queue, &io = io](io::Result<relay::QueueId> id) {
      REQUIRE(id);
      bounced_id = id.value();
      const QueuedMessage message = queue.load(bounced_id).value();
      // A deferral gives it a file of its own; then both recipients bounce, and it is finished.
      queue.update(bounced_id, {{0, with_state(message, 0, RecipientState::deferred)}},
                   [&, message, &queue = queue, &io = io](io::Status deferred) {
                     REQUIRE(deferred);
                     std::vector<relay::Queue::StateChange> bounced = {
                         {0, with_state(message, 0, RecipientState::bounced)},
                         {1, with_state(message, 1, RecipientState::bounced)}};
                     queue.update(bounced_id, std::move(bounced), [&, &io = io](io::Status status) {
                       REQUIRE(status);
                       // The power goes in this very instant: the bounces are durable in the file, the
                       // removal record in the journal is not yet.
                       world.crash_at("relay", io.now(), sim::CrashKind::power_loss);
                     });
                   });
    });
  });
  world.restart_at("relay", t0() + 10s);
  world.crash_at("relay", t0() + 20s, sim::CrashKind::power_loss);
  world.restart_at("relay", t0() + 30s);
  world.start();
  world.run_until(t0() + 1min);
  REQUIRE(starts == 3);
  // Each start reads back the other message only; the bounced one never comes back to be bounced again.
  CHECK(recovered_per_start == std::vector<std::size_t>{0, 1, 1});
  CHECK(finished_per_start[1] ==
        1);  // its file, finished (the file's own removal need not be durable: it stays finished)
  for (const QueuedMessage& message : probe.recovered) CHECK(message.id != bounced_id);
}

TEST_CASE(
    "journal: after a power loss, messages only in the journal come back from it, and their segment goes "
    "once they are delivered",
    "[relay][queue][journal]") {
  sim::World world(1, t0());
  world.add_host({"a", {address("10.0.0.1")}});
  QueueProbe probe;
  int starts = 0;
  std::vector<std::string> queue_names_before_crash, queue_names_later, segments_after_recovery, segments_later;
  add_queue_node(world, probe, [&](relay::Queue& queue, io::Io& io) {
    starts += 1;
    if (starts == 1) {
      for (const char* subject : {"one", "two"}) {
        queue.store(sample_message(std::string("Subject: ") + subject + "\r\n\r\n"),
                    [&, &io = io](io::Result<relay::QueueId> id) {
                      REQUIRE(id);
                      queue_names_before_crash = names_in(io, "queue");
                    });
      }
      return;
    }
    segments_after_recovery = names_in(io, "queue/journal");
    for (const relay::QueueId& id : queue.ids()) {
      const QueuedMessage message = queue.load(id).value();
      std::vector<relay::Queue::StateChange> delivered = {{0, with_state(message, 0, RecipientState::delivered)},
                                                          {1, with_state(message, 1, RecipientState::delivered)}};
      queue.update(id, std::move(delivered), [](io::Status status) { REQUIRE(status); });
    }
    world.at(t0() + 30s, [&, &io = io] {
      queue_names_later = names_in(io, "queue");
      segments_later = names_in(io, "queue/journal");
    });
  });
  world.crash_at("relay", t0() + 1s, sim::CrashKind::power_loss);
  world.restart_at("relay", t0() + 2s);
  world.start();
  world.run_until(t0() + 1min);
  CHECK(queue_names_before_crash == std::vector<std::string>{"journal"});
  REQUIRE(probe.recovered.size() == 2);
  CHECK(probe.recovered[0].content == "Subject: one\r\n\r\n");
  CHECK(probe.recovered[1].content == "Subject: two\r\n\r\n");
  // A segment full of live messages is kept as it is; once they are gone, so is the segment.
  CHECK(segments_after_recovery == std::vector<std::string>{"0000000000000001"});
  CHECK(queue_names_later == std::vector<std::string>{"journal"});
  CHECK(segments_later.empty());
}

TEST_CASE("journal: a retired segment with a quarter or less of it still live gives those messages files and goes",
          "[relay][queue][journal]") {
  // Room for exactly four records in the first segment: the fifth store begins the second.
  QueuedMessage probe_message = sample_message("Subject: 0\r\n\r\n");
  const std::size_t record = relay::frame_record(1, relay::encode_message(probe_message)).size();
  sim::World world(1, t0());
  world.add_host({"a", {address("10.0.0.1")}});
  QueueProbe probe;
  bool started_once = false;
  std::array<relay::QueueId, 5> ids;
  std::vector<std::string> queue_names_later, segments_later;
  add_queue_node(
      world, probe,
      [&](relay::Queue& queue, io::Io& io) {
        if (started_once) return;
        started_once = true;
        for (std::size_t i = 0; i < 5; ++i) {
          queue.store(sample_message("Subject: " + std::to_string(i) + "\r\n\r\n"),
                      [&, i](io::Result<relay::QueueId> id) {
                        REQUIRE(id);
                        ids[i] = id.value();
                      });
        }
        // Three of the first segment's four are delivered: the fourth is given a file.
        world.at(t0() + 1s, [&, &queue = queue] {
          for (std::size_t i = 0; i < 3; ++i) {
            const QueuedMessage message = queue.load(ids[i]).value();
            std::vector<relay::Queue::StateChange> delivered = {{0, with_state(message, 0, RecipientState::delivered)},
                                                                {1, with_state(message, 1, RecipientState::delivered)}};
            queue.update(ids[i], std::move(delivered), [](io::Status status) { REQUIRE(status); });
          }
        });
        world.at(t0() + 30s, [&, &io = io] {
          queue_names_later = names_in(io, "queue");
          segments_later = names_in(io, "queue/journal");
        });
      },
      relay::JournalOptions{true, 3 * record + 1});
  world.crash_at("relay", t0() + 40s, sim::CrashKind::power_loss);
  world.restart_at("relay", t0() + 41s);
  world.start();
  world.run_until(t0() + 2min);
  CHECK(segments_later == std::vector<std::string>{"0000000000000002"});
  std::vector<std::string> expected = {ids[3].to_string(), "journal"};
  std::sort(expected.begin(), expected.end());
  CHECK(queue_names_later == expected);
  REQUIRE(probe.recovered.size() == 2);
  CHECK(probe.recovered[0].id == ids[3]);
  CHECK(probe.recovered[1].id == ids[4]);
}

TEST_CASE(
    "journal: with one message per segment, deferred messages get files, the others stay in the journal, "
    "and all survive a power loss",
    "[relay][queue][journal]") {
  sim::World world(1, t0());
  world.add_host({"a", {address("10.0.0.1")}});
  QueueProbe probe;
  bool started_once = false;
  std::size_t segments_before_crash = 99, resident_before_crash = 99;
  add_queue_node(
      world, probe,
      [&](relay::Queue& queue, io::Io& io) {
        if (started_once) return;
        started_once = true;
        // Every store fills its segment: the next one begins a new segment and retires it.
        for (int i = 0; i < 5; ++i) {
          queue.store(sample_message("Subject: " + std::to_string(i) + "\r\n\r\n"),
                      [&, i, &queue = queue](io::Result<relay::QueueId> id) {
                        REQUIRE(id);
                        if (i != 0) return;
                        const QueuedMessage message = queue.load(id.value()).value();
                        queue.update(id.value(), 0, with_state(message, 0, RecipientState::deferred),
                                     [](io::Status status) { REQUIRE(status); });
                      });
        }
        world.at(t0() + 500ms, [&, &queue = queue, &io = io] {
          segments_before_crash = names_in(io, "queue/journal").size();
          resident_before_crash = queue.journal_resident();
        });
      },
      relay::JournalOptions{true, 1});
  world.crash_at("relay", t0() + 1s, sim::CrashKind::power_loss);
  world.restart_at("relay", t0() + 2s);
  world.start();
  world.run_until(t0() + 1min);
  // The deferred message's segment went once its file was durable; the four others' stay.
  CHECK(segments_before_crash == 4);
  CHECK(resident_before_crash == 4);
  REQUIRE(probe.recovered.size() == 5);
  CHECK(probe.recovered[0].recipients[0].state == RecipientState::deferred);
  CHECK(probe.recovered[0].recipients[0].last_reply == "450 4.2.0 Greylisted");
  for (int i = 0; i < 5; ++i)
    CHECK(probe.recovered[static_cast<std::size_t>(i)].content == "Subject: " + std::to_string(i) + "\r\n\r\n");
}

TEST_CASE(
    "journal: failing any one disk operation while messages get files loses none, and no change "
    "reported durable",
    "[relay][queue][journal][crash]") {
  // Three messages; the first has both recipients deferred by two changes at once (it gets a
  // file), the second is delivered (it leaves), the third stays in the journal. Then a power
  // loss and a restart.
  struct Outcome {
    std::array<std::optional<relay::QueueId>, 3> stored;  // by message, none when its store failed
    std::array<bool, 2> deferral_durable{};               // per recipient of the first message
    bool delivery_reported = false;
    QueueProbe probe;
  };
  const auto run = [](std::uint64_t fail_at, Outcome& out) -> std::uint64_t {
    sim::World world(1, t0());
    world.add_host({"a", {address("10.0.0.1")}});
    bool started_once = false;
    std::uint64_t operations = 0;
    add_queue_node(world, out.probe, [&](relay::Queue& queue, io::Io&) {
      if (started_once) return;
      started_once = true;
      for (int i = 0; i < 3; ++i) {
        queue.store(sample_message("Subject: " + std::to_string(i) + "\r\n\r\n"), [&, i, &queue = queue](
                                                                                      io::Result<relay::QueueId> id) {
          if (!id) return;
          out.stored[static_cast<std::size_t>(i)] = id.value();
          if (i == 2) return;
          auto loaded = queue.load(id.value());
          if (!loaded) return;
          if (i == 0) {
            // Two changes at once: the first gives the message its file, the second is appended
            // to that file while it is being made.
            for (std::size_t recipient = 0; recipient < 2; ++recipient) {
              queue.update(id.value(), recipient, with_state(loaded.value(), recipient, RecipientState::deferred),
                           [&, recipient](io::Status status) { out.deferral_durable[recipient] = status.ok(); });
            }
          } else {
            std::vector<relay::Queue::StateChange> delivered = {
                {0, with_state(loaded.value(), 0, RecipientState::delivered)},
                {1, with_state(loaded.value(), 1, RecipientState::delivered)}};
            queue.update(id.value(), std::move(delivered),
                         [&](io::Status status) { out.delivery_reported = status.ok(); });
          }
        });
      }
    });
    if (fail_at > 0) world.fail_disk_operation("relay", fail_at, io::Errc::io_error);
    world.at(t0() + 30s, [&] { operations = world.disk_operations("relay"); });
    world.crash_at("relay", t0() + 40s, sim::CrashKind::power_loss);
    world.restart_at("relay", t0() + 41s);
    world.start();
    world.run_until(t0() + 2min);
    return operations;
  };
  Outcome clean;
  const std::uint64_t operations = run(0, clean);
  REQUIRE(std::none_of(clean.stored.begin(), clean.stored.end(),
                       [](const std::optional<relay::QueueId>& id) { return !id; }));
  REQUIRE(clean.deferral_durable == std::array<bool, 2>{true, true});
  REQUIRE(operations > 10);
  for (std::uint64_t n = 1; n <= operations; ++n) {
    CAPTURE(n);
    Outcome out;
    run(n, out);
    for (std::size_t i = 0; i < out.stored.size(); ++i) {
      if (!out.stored[i]) continue;  // refused: the client would have had a 4xx
      // The delivered message may come back (its removal was not durable): at least once.
      if (i == 1 && out.delivery_reported) continue;
      const auto found = std::find_if(out.probe.recovered.begin(), out.probe.recovered.end(),
                                      [&](const QueuedMessage& message) { return message.id == out.stored[i]; });
      REQUIRE(found != out.probe.recovered.end());
      for (std::size_t recipient = 0; i == 0 && recipient < 2; ++recipient) {
        CAPTURE(recipient);
        if (out.deferral_durable[recipient]) CHECK(found->recipients[recipient].state == RecipientState::deferred);
      }
    }
  }
}

TEST_CASE("a torn message file is discarded at recovery and the whole ones are kept", "[relay][queue]") {
  sim::World world(1, t0());
  world.add_host({"a", {address("10.0.0.1")}});
  QueueProbe probe;
  bool started_once = false;
  std::unique_ptr<io::File> half_written;  // held open across the crash, like a dying process's descriptor
  add_queue_node(world, probe, [&](relay::Queue& queue, io::Io& io) {
    if (started_once) return;
    started_once = true;
    queue.store(sample_message(), [](io::Result<relay::QueueId> id) { REQUIRE(id); });
    // What a crash leaves when a directory entry was made durable before the file's data: the
    // first half of a record.
    QueuedMessage torn = sample_message();
    torn.id = *relay::QueueId::parse("0000000000000000000001");
    const std::string record = relay::frame_record(1, relay::encode_message(torn));
    auto file = io.create_file("queue/" + torn.id.to_string());
    REQUIRE(file);
    REQUIRE(file.value()->append(std::string_view(record).substr(0, record.size() / 2)));
    half_written = std::move(file).value();
  });
  world.crash_at("relay", t0() + 1s, sim::CrashKind::kill);  // the page cache survives: the half record stays
  world.restart_at("relay", t0() + 2s);
  world.start();
  world.run_until(t0() + 1min);
  CHECK(probe.report.discarded == 1);
  CHECK(probe.report.recovered == 1);
  REQUIRE(probe.recovered.size() == 1);
  CHECK(probe.recovered[0].content == sample_message().content);
}

TEST_CASE("a file the queue did not write is reported and left alone, never removed", "[relay][queue]") {
  sim::World world(1, t0());
  world.add_host({"a", {address("10.0.0.1")}});
  QueueProbe probe;
  int starts = 0;
  bool kept = false;
  add_queue_node(world, probe, [&](relay::Queue& queue, io::Io& io) {
    if (++starts == 1) {
      // A queue directory pointed at a directory with other files in it.
      auto notes = io.create_file("queue/notes.txt");
      REQUIRE(notes);
      REQUIRE(notes.value()->append("an operator's notes"));
      queue.store(sample_message(), [](io::Result<relay::QueueId> id) { REQUIRE(id); });
      return;
    }
    const auto notes = io.read_file("queue/notes.txt");
    kept = notes && notes.value() == "an operator's notes";
  });
  world.crash_at("relay", t0() + 1s, sim::CrashKind::kill);  // the page cache survives: so do the notes
  world.restart_at("relay", t0() + 2s);
  world.start();
  world.run_until(t0() + 1min);
  CHECK(starts == 2);
  CHECK(kept);  // recovery repairs, and still the file is there
  CHECK(probe.report.discarded == 0);
  CHECK(probe.report.recovered == 1);
  CHECK(probe.report.complete);
  REQUIRE(probe.report.problems.size() == 1);
  CHECK(probe.report.problems[0] == "notes.txt: not a queue file; left alone");
}

namespace {

// A spool server: SMTP in, queue, 250 "queued as <id>" only once the queue says durable, 451 when
// the disk fails. It recovers its queue at every start.
class SpoolNode final : public io::Node {
 public:
  SpoolNode(io::Io& io, QueueProbe& probe) : io_(io), probe_(probe), queue_(io, "queue") {}
  void start() override {
    probe_.report = queue_.recover();
    probe_.recovered.clear();
    for (const relay::QueueId& id : queue_.ids()) probe_.recovered.push_back(queue_.load(id).value());
    listener_ = io_.listen({io::Address::any_v4(), 25},
                           [this](std::unique_ptr<io::Connection> connection) {
                             const std::uint64_t id = connection->id();
                             sessions_[id] = std::make_unique<endpoint::ServerConnection>(
                                 io_, std::move(connection), mx_config(), nullptr,
                                 [this, id](endpoint::ServerConnection& session, const smtp::ServerEvent& event) {
                                   on_event(id, session, event);
                                 });
                           })
                    .value();
  }
  std::string status() const override { return std::to_string(queue_.size()) + " queued"; }

 private:
  void on_event(std::uint64_t id, endpoint::ServerConnection& session, const smtp::ServerEvent& event) {
    if (const auto* message = std::get_if<smtp::server_event::Message>(&event)) {
      QueuedMessage queued;
      queued.arrival = io_.now();
      queued.sender = message->envelope.sender;
      queued.parameters = message->envelope.parameters;
      for (const smtp::Recipient& recipient : message->envelope.recipients)
        queued.recipients.push_back({recipient, RecipientState::queued, 0, io_.now(), ""});
      queued.content = message->content;
      auto alive = alive_;
      queue_.store(std::move(queued), [this, alive, &session](io::Result<relay::QueueId> stored) {
        if (!*alive) return;
        session.decide(stored
                           ? smtp::Verdict::accept_with(
                                 smtp::Reply::make(250, "2.0.0", "Ok: queued as " + stored.value().to_string()))
                           : smtp::Verdict::reject(smtp::Reply::make(451, "4.3.0", "Error: queue file write error")));
      });
      return;
    }
    if (std::holds_alternative<smtp::server_event::Mail>(event) ||
        std::holds_alternative<smtp::server_event::Rcpt>(event)) {
      return session.decide(smtp::Verdict::accept());
    }
    if (std::holds_alternative<smtp::server_event::Closed>(event)) sessions_.erase(id);
  }

  io::Io& io_;
  QueueProbe& probe_;
  relay::Queue queue_;
  std::unique_ptr<io::Listener> listener_;
  std::map<std::uint64_t, std::unique_ptr<endpoint::ServerConnection>> sessions_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);

 public:
  ~SpoolNode() override { *alive_ = false; }
};

struct SpoolRun {
  QueueProbe probe;
  SendRecord send;
  SendRecord other_send;
  std::vector<std::string> contents;
};

// Two clients, six messages each, to the spool at the same time, so that stores overlap; `faults`
// adds crashes or disk faults.
void run_spool(SpoolRun& run, std::uint64_t seed, const std::function<void(sim::World&)>& faults,
               bool through_relay = false) {
  auto world = two_host_world(seed);
  world->add_host({"c", {address("10.0.0.3")}});
  world->set_default_link({std::chrono::milliseconds(2), std::chrono::microseconds(500), 0});
  std::vector<smtp::OutgoingMessage> messages, other_messages;
  for (int i = 0; i < 6; ++i) {
    std::string content =
        "Subject: message " + std::to_string(i) + "\r\n\r\n" + std::string(200 * (i + 1), 'x') + "\r\n";
    run.contents.push_back(smtp::fold_long_lines(content, 998));  // as the client sends it
    messages.push_back(message("news@acme.example", {"ann@dest.example", "bob@dest.example"}, content));
    std::string other = "Subject: other " + std::to_string(i) + "\r\n\r\n" + std::string(300 * (i + 1), 'y') + "\r\n";
    run.contents.push_back(smtp::fold_long_lines(other, 998));
    other_messages.push_back(message("alerts@acme.example", {"cy@dest.example", "di@dest.example"}, other));
  }
  relay::RelayConfig relay_config;
  relay_config.listeners = {relay::ListenerConfig{{io::Address::any_v4(), 25}, false}};
  relay_config.mynetworks = {*io::Cidr::parse("10.0.0.0/8")};
  relay_config.transport_maps = {relay::Transport{"*", "", "192.0.2.1", 25, false}};  // nobody there: mail stays queued
  world->add_process(
      {"spool", "b",
       [&run, through_relay, relay_config](io::Io& io) -> std::unique_ptr<io::Node> {
         if (!through_relay) return std::make_unique<SpoolNode>(io, run.probe);
         return std::make_unique<relay::RelayNode>(io, relay_config, nullptr);
       },
       sim::DiskConfig{std::uint64_t{1} << 30, std::chrono::milliseconds(1), sim::DiskConfig::CrashMode::torn}});
  world->add_process({"client",
                      "a",
                      [&run, messages](io::Io& io) {
                        return std::make_unique<SendNode>(io, io::Endpoint{address("10.0.0.2"), 25}, "mx.example",
                                                          relay_client_config(), nullptr, messages, run.send);
                      },
                      {}});
  world->add_process({"other",
                      "c",
                      [&run, other_messages](io::Io& io) {
                        return std::make_unique<SendNode>(io, io::Endpoint{address("10.0.0.2"), 25}, "mx.example",
                                                          relay_client_config(), nullptr, other_messages,
                                                          run.other_send);
                      },
                      {}});
  faults(*world);
  world->start();
  world->run_until(t0() + 1h);
  if (through_relay) {
    // What the restarted relay recovered is its queue now: nothing arrives after the restart.
    if (auto* node = dynamic_cast<relay::RelayNode*>(world->node("spool"))) {
      run.probe.report = node->recovery();
      run.probe.recovered.clear();
      for (const relay::QueueId& id : node->queue().ids())
        run.probe.recovered.push_back(node->mutable_queue().load(id).value());
    }
  }
}

// The queue ids the clients were told, from "250 2.0.0 Ok: queued as ID".
std::vector<std::string> acknowledged_ids(const SpoolRun& run) {
  std::vector<std::string> ids;
  for (const SendRecord* send : {&run.send, &run.other_send}) {
    for (const auto& result : send->results) {
      const auto& reply = result.recipients.front().reply;
      if (result.recipients.front().outcome == smtp::Outcome::delivered && reply) {
        const std::string text = reply->text();
        ids.push_back(text.substr(text.rfind(' ') + 1));
      }
    }
  }
  return ids;
}

}  // namespace

TEST_CASE("crash sweep: every 250 survives a power loss at any of 1,000 instants, and nothing torn is recovered",
          "[relay][queue][crash]") {
  // The exchange takes about 70 ms of virtual time; the crash points are 90 µs apart, over 90 ms.
  std::size_t acknowledged_total = 0, possible_duplicates = 0, discarded_total = 0;
  for (int point = 1; point <= 1000; ++point) {
    CAPTURE(point);
    SpoolRun run;
    run_spool(run, static_cast<std::uint64_t>(point), [point](sim::World& world) {
      world.crash_at("spool", t0() + Duration(point * 90), sim::CrashKind::power_loss);
      world.restart_at("spool", t0() + 10s);
    });
    const std::vector<std::string> acknowledged = acknowledged_ids(run);
    acknowledged_total += acknowledged.size();
    discarded_total += run.probe.report.discarded;
    // Every acknowledged message is back, whole.
    for (const std::string& id : acknowledged) {
      const auto found = std::find_if(run.probe.recovered.begin(), run.probe.recovered.end(),
                                      [&id](const QueuedMessage& message) { return message.id.to_string() == id; });
      REQUIRE(found != run.probe.recovered.end());
      CHECK(std::find(run.contents.begin(), run.contents.end(), found->content) != run.contents.end());
      CHECK(found->recipients.size() == 2);
    }
    // Everything recovered is a whole message the client sent; some may not have been
    // acknowledged yet (the crash fell between the fsync and the 250): possible duplicates.
    for (const QueuedMessage& message : run.probe.recovered) {
      CHECK(std::find(run.contents.begin(), run.contents.end(), message.content) != run.contents.end());
      if (std::find(acknowledged.begin(), acknowledged.end(), message.id.to_string()) == acknowledged.end())
        ++possible_duplicates;
    }
  }
  CHECK(acknowledged_total > 1000);  // the sweep covered crashes before, during and after the stream
  WARN("crash sweep: " << acknowledged_total << " acknowledged, " << possible_duplicates
                       << " recovered without an acknowledgement, " << discarded_total << " torn files discarded");
}

TEST_CASE("disk fault sweep: failing the n-th disk operation gives the client a 4xx, never a 250 for a lost message",
          "[relay][queue][crash]") {
  // A clean run counts the spool's fallible disk operations.
  SpoolRun clean;
  std::uint64_t operations = 0;
  run_spool(clean, 1, [&operations](sim::World& world) {
    world.at(t0() + 30min, [&world, &operations] { operations = world.disk_operations("spool"); });
  });
  REQUIRE(acknowledged_ids(clean).size() == 12);
  REQUIRE(operations > 10);
  for (std::uint64_t n = 1; n <= operations; ++n) {
    CAPTURE(n);
    SpoolRun run;
    run_spool(run, 1, [n](sim::World& world) {
      world.fail_disk_operation("spool", n, io::Errc::io_error);
      // Then a power loss and a restart: what was acknowledged must be on disk.
      world.crash_at("spool", t0() + 30min, sim::CrashKind::power_loss);
      world.restart_at("spool", t0() + 31min);
    });
    const std::vector<std::string> acknowledged = acknowledged_ids(run);
    for (const std::string& id : acknowledged) {
      const bool recovered = std::any_of(run.probe.recovered.begin(), run.probe.recovered.end(),
                                         [&id](const QueuedMessage& message) { return message.id.to_string() == id; });
      CHECK(recovered);
    }
    // The failed operation cost at most one message, and that one was refused with a 4xx.
    std::size_t refused = 0;
    for (const SendRecord* send : {&run.send, &run.other_send}) {
      for (const auto& result : send->results) {
        const auto& first = result.recipients.front();
        if (first.outcome == smtp::Outcome::transient && first.reply && first.reply->code == 451) ++refused;
      }
    }
    CHECK(acknowledged.size() + refused == 12);
  }
}

TEST_CASE("crash sweep through the relay node: 1,000 power losses, every 250 recovered", "[relay][queue][crash]") {
  std::size_t acknowledged_total = 0;
  for (int point = 1; point <= 1000; ++point) {
    CAPTURE(point);
    SpoolRun run;
    run_spool(
        run, static_cast<std::uint64_t>(point),
        [point](sim::World& world) {
          world.crash_at("spool", t0() + Duration(point * 90), sim::CrashKind::power_loss);
          world.restart_at("spool", t0() + 10s);
        },
        true);
    const std::vector<std::string> acknowledged = acknowledged_ids(run);
    acknowledged_total += acknowledged.size();
    for (const std::string& id : acknowledged) {
      const auto found = std::find_if(run.probe.recovered.begin(), run.probe.recovered.end(),
                                      [&id](const QueuedMessage& message) { return message.id.to_string() == id; });
      REQUIRE(found != run.probe.recovered.end());
    }
    // The relay adds its Received header; what follows it is exactly what a client sent.
    for (const QueuedMessage& message : run.probe.recovered) {
      const bool whole = std::any_of(run.contents.begin(), run.contents.end(), [&message](const std::string& sent) {
        return message.content.starts_with("Received: ") && message.content.ends_with(sent);
      });
      CHECK(whole);
    }
  }
  CHECK(acknowledged_total > 1000);
}
