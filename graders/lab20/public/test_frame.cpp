// Lab 20 public grader, in-process part: the frame codec and the shm rings.
#include <fcntl.h>     // fcntl, F_DUPFD_CLOEXEC
#include <sys/stat.h>  // fstat

#include <atomic>   // std::atomic
#include <cstdint>  // std::uint64_t
#include <cstring>  // std::memcpy
#include <random>   // std::mt19937_64
#include <thread>   // std::thread, std::this_thread::yield
#include <utility>  // std::move

#include "common.hpp"
#include "ipclab/error.hpp"  // UsageError
#include "ipclab/names.hpp"  // names::posix
#include "ipclab/shm.hpp"    // PosixShm
#include "lab20/frame.hpp"
#include "lab20/ring.hpp"

GRADER_LAB("lab20", "The capstone message hub over five transports");

namespace lab = ipclab::lab20;
using lab::Frame;
using lab::FrameDecoder;
using lab::ProtocolError;
using lab::Type;

GRADED_TEST(Frame, EncodeLayout, 3, "README §Protocol — the header is 8 bytes, lengths exact") {
  const std::string want =
      std::string("HB\x04\x02\x03\x00\x00\x00", 8) + "ab" + std::string("x\0z", 3);
  EXPECT_EQ(lab::encode(Type::kPublish, "ab", std::string("x\0z", 3)), want);
  EXPECT_EQ(lab::encode(Type::kAck, "", ""), std::string("HB\x06\x00\x00\x00\x00\x00", 8));
  EXPECT_EQ(lab::encode(Type::kData, std::string(64, 'c'), std::string(4096, 'p')).size(),
            8u + 64 + 4096);
  EXPECT_EQ(lab::encode(Type::kData, "", std::string(4096, 'p')),
            lab20_test::frame(lab20_test::kData, "", std::string(4096, 'p')));
  EXPECT_THROW(lab::encode(Type::kData, std::string(65, 'c'), ""), ProtocolError);
  EXPECT_THROW(lab::encode(Type::kData, "", std::string(4097, 'p')), ProtocolError);
}

GRADED_TEST(Frame, DecoderReassemblesAnySplit, 4,
            "README §Pitfalls 8 — a stream read returns any number of bytes") {
  grader::repeat(3, [](int, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::vector<Frame> sent;
    std::string stream;
    for (int i = 0; i < 300; ++i) {
      Frame f{static_cast<Type>(1 + rng() % 8), std::string(rng() % 65, 'c'), {}};
      const std::size_t len = i % 50 == 0 ? 4096 : rng() % 300;
      for (std::size_t k = 0; k < len; ++k) f.payload += static_cast<char>(rng());
      stream += lab::encode(f);
      sent.push_back(std::move(f));
    }
    FrameDecoder dec;
    std::vector<Frame> got;
    for (std::size_t at = 0; at < stream.size();) {
      const std::size_t n = std::min<std::size_t>(stream.size() - at, 1 + rng() % 700);
      dec.feed(std::string_view(stream).substr(at, n));
      at += n;
      while (auto f = dec.next()) got.push_back(std::move(*f));
    }
    EXPECT_EQ(dec.buffered(), 0u);
    ASSERT_EQ(got.size(), sent.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
      ASSERT_EQ(got[i].type, sent[i].type) << "frame " << i;
      ASSERT_EQ(got[i].channel, sent[i].channel) << "frame " << i;
      ASSERT_EQ(got[i].payload, sent[i].payload) << "frame " << i;
    }
    const Frame one = lab::decode_one(lab::encode(sent[7]));
    EXPECT_EQ(one.payload, sent[7].payload);
  });
}

GRADED_TEST(Frame, RejectsBadHeaders, 3, "README §Pitfalls 8 — check the header first") {
  auto bad = [](const std::string& bytes) {
    FrameDecoder d;
    d.feed(bytes);
    EXPECT_THROW(d.next(), ProtocolError) << grader::excerpt(bytes, 40);
  };
  bad(lab20_test::frame(lab20_test::kPublish, "x", "y", 0x1234));
  bad(lab20_test::frame(0, "", ""));
  bad(lab20_test::frame(9, "", ""));
  bad(std::string("HB\x04\x41\x00\x00\x00\x00", 8));  // channel 65
  bad(std::string("HB\x04\x01\x01\x10\x00\x00", 8));  // payload 4097
  bad(std::string("HB\x04\x01\xff\xff\xff\xff", 8));  // payload 4 GiB
  // A bad header after good frames, all in one read: 1 to 70 frames of 1010 bytes, so
  // past the 64 KiB where a decoder may compact its buffer. What it keeps must stay as it
  // came, the bad byte too.
  const std::string good = lab::encode(Type::kPublish, "ch", std::string(1000, 'p'));
  for (int n = 1; n <= 70; ++n) {
    FrameDecoder d;
    std::string stream;
    for (int k = 0; k < n; ++k) stream += good;
    d.feed(stream + std::string("XB\x04\x01\x00\x00\x00\x00", 8) + "c");  // magic "XB"
    for (int k = 0; k < n; ++k) ASSERT_TRUE(d.next().has_value()) << "good frame " << k;
    EXPECT_THROW(d.next(), ProtocolError) << "the bad magic after " << n << " good frames";
  }
  FrameDecoder partial;  // a valid header whose body has not come: wait, do not throw
  partial.feed(std::string("HB\x04\x01\x00\x10\x00\x00", 8));  // payload 4096
  EXPECT_FALSE(partial.next().has_value());
  EXPECT_EQ(partial.buffered(), 8u);
  const std::string f = lab::encode(Type::kPublish, "ch", "payload");
  EXPECT_THROW(lab::decode_one(f.substr(0, f.size() - 1)), ProtocolError);
  EXPECT_THROW(lab::decode_one(f + "x"), ProtocolError);
  EXPECT_THROW(lab::decode_one("HB"), ProtocolError);
  // A header alone is a whole frame: no channel, no payload (STATS asks nothing more).
  const std::string header_only = lab::encode(Type::kStats, "", "");
  ASSERT_EQ(header_only.size(), lab::kHeaderSize);
  Frame stats;
  ASSERT_NO_THROW(stats = lab::decode_one(header_only)) << "a STATS frame of 8 bytes, all header";
  EXPECT_EQ(stats.type, Type::kStats);
  EXPECT_EQ(stats.channel, "");
  EXPECT_EQ(stats.payload, "");
}

GRADED_TEST(Frame, ChannelNamesAndPatterns, 2, "README §Protocol") {
  EXPECT_TRUE(lab::valid_channel("weather"));
  EXPECT_TRUE(lab::valid_channel("a.b-c_9"));
  // Each end of each range is in it: a-z, A-Z, 0-9; the characters just outside are not.
  EXPECT_TRUE(lab::valid_channel("azAZ09"));
  for (const char c : {'a', 'z', 'A', 'Z', '0', '9', '.', '_', '-'})
    EXPECT_TRUE(lab::valid_channel(std::string(1, c) + "x")) << "'" << c << "' is a name character";
  for (const char c : {'`', '{', '@', '[', '/', ':'})
    EXPECT_FALSE(lab::valid_channel(std::string(1, c) + "x")) << "'" << c << "' is not";
  EXPECT_TRUE(lab::valid_channel(std::string(64, 'x')));
  EXPECT_FALSE(lab::valid_channel(std::string(65, 'x')));
  for (const char* bad : {"", "a b", "a/b", "é", "a*", "weather.*"})
    EXPECT_FALSE(lab::valid_channel(bad)) << bad;
  EXPECT_TRUE(lab::valid_channel("weather.*", true));
  EXPECT_FALSE(lab::valid_channel(".*", true));
  EXPECT_TRUE(lab::valid_channel("a.*", true)) << "the shortest family: one character, then .*";
  EXPECT_FALSE(lab::valid_channel("a.*.*", true));
  EXPECT_TRUE(lab::channel_matches("weather.*", "weather.today"));
  EXPECT_TRUE(lab::channel_matches("weather.*", "weather.eu.paris"));
  EXPECT_FALSE(lab::channel_matches("weather.*", "weather"));
  EXPECT_FALSE(lab::channel_matches("weather.*", "weatherman"));
  EXPECT_TRUE(lab::channel_matches("a.*", "a.b")) << "the shortest family covers its channels";
  EXPECT_FALSE(lab::channel_matches("a.*", "a."));
  EXPECT_FALSE(lab::channel_matches(".*", ".x")) << "`.*` is no family: it has no name";
  EXPECT_TRUE(lab::channel_matches("test", "test"));
  EXPECT_FALSE(lab::channel_matches("test", "test2"));
}

GRADED_TEST(Frame, DecoderFuzzOnlyProtocolErrors, 2,
            "README §Pitfalls 8 — hostile bytes end in ProtocolError, never a crash") {
  std::mt19937_64 rng(grader::seed());
  for (int i = 0; i < 3000; ++i) {
    std::string bytes = lab::encode(Type::kPublish, "fz", std::string(rng() % 40, 'q'));
    for (int k = 0; k < 3; ++k) bytes[rng() % bytes.size()] = static_cast<char>(rng());
    if (rng() % 2) bytes.resize(rng() % (bytes.size() + 1));
    FrameDecoder d;
    d.feed(bytes);
    try {
      while (auto f = d.next()) {
        EXPECT_LE(f->channel.size(), lab::kMaxChannel);
        EXPECT_LE(f->payload.size(), lab::kMaxPayload);
      }
      (void)lab::decode_one(bytes);
    } catch (const ProtocolError&) {
    }
  }
}

namespace {
/// A ring object made by ShmChannel::create, its name removed at once (nothing to leak).
lab::ShmChannel unnamed_channel(const std::string& tag) {
  const std::string name = ipclab::names::posix(tag);
  auto ch = lab::ShmChannel::create(name);
  ipclab::PosixShm::unlink(name);
  return ch;
}
}  // namespace

GRADED_TEST(Ring, AttachRefusesWhatIsNotARingObject, 1,
            "README §Pitfalls 8 — trust nothing that comes from outside: attach checks the "
            "object's size, magic and capacity, each") {
  const std::size_t size = lab::ShmChannel::size_for(lab::kRingCapacity);
  struct Case {
    const char* what;
    std::size_t size;
    std::uint64_t magic, capacity;
    bool ring;
  };
  for (const Case& c :
       {Case{"the right size, magic and capacity", size, lab::kShmMagic, lab::kRingCapacity, true},
        Case{"a wrong magic", size, lab::kShmMagic ^ 1, lab::kRingCapacity, false},
        Case{"a wrong capacity", size, lab::kShmMagic, lab::kRingCapacity / 2, false},
        Case{"zeros", size, 0, 0, false},
        Case{"a page short", size - 4096, lab::kShmMagic, lab::kRingCapacity, false}}) {
    const std::string name = ipclab::names::posix("test.attach");
    auto shm = ipclab::PosixShm::create(name, c.size, 0600);
    ipclab::PosixShm::unlink(name);
    {
      auto map = shm.map();
      std::memcpy(map.as<std::byte>(), &c.magic, sizeof c.magic);
      std::memcpy(map.as<std::byte>() + 8, &c.capacity, sizeof c.capacity);
    }
    ipclab::Fd fd(::fcntl(shm.fd(), F_DUPFD_CLOEXEC, 0));
    ASSERT_TRUE(fd.valid());
    if (c.ring)
      EXPECT_NO_THROW((void)lab::ShmChannel::attach(std::move(fd))) << c.what;
    else
      EXPECT_THROW((void)lab::ShmChannel::attach(std::move(fd)), ProtocolError)
          << "an object of " << c.size << " bytes with " << c.what;
  }
}

GRADED_TEST(Ring, PushPopWrapAndFull, 4,
            "README §Pitfalls 7 — a record never crosses the end; full is full, not overwrite") {
  auto ch = unnamed_channel("test.ring");
  struct stat st {};
  ASSERT_EQ(::fstat(ch.fd(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u) << "ShmChannel::create makes the object with mode 0600";
  lab::Ring& up = ch.up();
  std::mt19937_64 rng(grader::seed());
  std::string got;
  EXPECT_FALSE(up.try_pop(got));
  EXPECT_TRUE(up.empty());
  std::uint64_t pushed = 0, popped = 0;
  std::vector<std::string> inflight;
  for (int round = 0; round < 4000; ++round) {
    if (rng() % 3 != 0) {
      std::string m(rng() % 5000, '\0');
      for (auto& c : m) c = static_cast<char>('a' + (pushed + (&c - m.data())) % 26);
      m += std::to_string(pushed);
      if (up.try_push(m)) {
        inflight.push_back(m);
        ++pushed;
      } else {
        EXPECT_GT(inflight.size(), 10u) << "full with only " << inflight.size() << " records";
      }
    } else if (up.try_pop(got)) {
      ASSERT_FALSE(inflight.empty());
      ASSERT_EQ(got, inflight.front()) << "record " << popped;
      inflight.erase(inflight.begin());
      ++popped;
    }
  }
  while (up.try_pop(got)) {
    ASSERT_EQ(got, inflight.front());
    inflight.erase(inflight.begin());
  }
  EXPECT_TRUE(inflight.empty());
  EXPECT_GT(pushed, 200u);
  std::string fill(1000, 'f');
  int n = 0;
  while (ch.down().try_push(fill)) ++n;
  EXPECT_EQ(n, static_cast<int>(lab::kRingCapacity / 1008)) << "1000-byte records in the ring";
  EXPECT_THROW(up.try_push(std::string(up.max_message() + 1, 'x')), ipclab::UsageError);
  // The longest message there is goes through an empty ring whole.
  const std::string longest(up.max_message(), 'm');
  ASSERT_TRUE(up.try_push(longest)) << "a message of max_message() bytes into an empty ring";
  std::string back;
  ASSERT_NO_THROW(EXPECT_TRUE(up.try_pop(back))) << "a record of max_message() bytes";
  EXPECT_EQ(back, longest);
}

GRADED_TEST(Ring, ExactlyFullRingGivesBackEveryRecord, 1,
            "README §Pitfalls 7 — full is full, not overwrite: a ring whose records fill "
            "every byte is full, and valid") {
  auto ch = unnamed_channel("test.exact");
  lab::Ring& r = ch.up();
  // Records of 1016 bytes take 1024 each (8 of header): 256 of them fill every byte.
  static_assert(lab::kRingCapacity % 1024 == 0);
  constexpr int kRecords = static_cast<int>(lab::kRingCapacity / 1024);
  for (int k = 0; k < kRecords; ++k)
    ASSERT_TRUE(r.try_push(std::string(1016, static_cast<char>('a' + k % 26)))) << k;
  EXPECT_FALSE(r.try_push("x")) << "a ring whose records fill every byte is full";
  std::string got;
  ASSERT_TRUE(r.try_pop(got));
  // One record's room, which the producer finds only by reading the tail again: the
  // ring is exactly full once more.
  const std::string last(1016, 'Z');
  ASSERT_TRUE(r.try_push(last)) << "a full ring after one pop has room for that one record";
  EXPECT_FALSE(r.try_push("x")) << "and is full again";
  for (int k = 1; k < kRecords; ++k) {
    ASSERT_TRUE(r.try_pop(got)) << "record " << k << " of a ring filled to its last byte";
    EXPECT_EQ(got, std::string(1016, static_cast<char>('a' + k % 26))) << k;
  }
  ASSERT_TRUE(r.try_pop(got));
  EXPECT_EQ(got, last);
  EXPECT_TRUE(r.empty());
}

GRADED_TEST(Ring, PadRecordInTheLastEightBytes, 1,
            "README §Pitfalls 7 — a record that does not fit before the end: a pad record "
            "skips to the start, even when only its 8 bytes are left") {
  auto ch = unnamed_channel("test.pad");
  lab::Ring& r = ch.up();
  // A record is 8 bytes of header and the bytes padded to 8 (ring.hpp). Fill the data
  // area to 8 bytes before its end: 260 records of 1008 bytes and one of 56.
  static_assert(lab::kRingCapacity == 260 * 1008 + 56 + 8);
  std::string got;
  for (int k = 0; k < 260; ++k) ASSERT_TRUE(r.try_push(std::string(1000, 'a'))) << k;
  ASSERT_TRUE(r.try_push(std::string(48, 'b')));
  for (int k = 0; k <= 260; ++k) ASSERT_TRUE(r.try_pop(got)) << k;
  ASSERT_TRUE(r.empty());
  // 8 bytes left before the end: the next records start at the beginning.
  const std::string records[] = {std::string(100, 'c'), "after the pad"};
  for (const auto& m : records) ASSERT_TRUE(r.try_push(m));
  for (const auto& m : records) {
    ASSERT_TRUE(r.try_pop(got));
    EXPECT_EQ(got, m) << "the record after 8 bytes of padding at the end";
  }
  EXPECT_FALSE(r.try_pop(got));
}

GRADED_TEST(Ring, SleepRegistrationIsTakenOnce, 1,
            "README §Pitfalls 1 — a side about to sleep registers; the other side takes that "
            "registration once, and only its own side's") {
  auto ch = unnamed_channel("test.flags");
  lab::Ring& r = ch.up();
  EXPECT_FALSE(r.take_consumer_waiter()) << "no consumer registered";
  EXPECT_FALSE(r.take_producer_waiter()) << "no producer registered";
  r.wait_for_data();
  EXPECT_FALSE(r.take_producer_waiter()) << "a consumer's registration is not a producer's";
  EXPECT_TRUE(r.take_consumer_waiter()) << "after wait_for_data(): a consumer to wake";
  EXPECT_FALSE(r.take_consumer_waiter()) << "taken once: the flag is cleared";
  r.wait_for_room();
  EXPECT_FALSE(r.take_consumer_waiter()) << "a producer's registration is not a consumer's";
  EXPECT_TRUE(r.take_producer_waiter()) << "after wait_for_room(): a producer to wake";
  EXPECT_FALSE(r.take_producer_waiter()) << "taken once: the flag is cleared";
}

GRADED_TEST(Ring, ProducerAndConsumerThreadsShareOneMapping, 2,
            "README §Pitfalls 1 — write the record, then publish the index with a release "
            "store; read the index with an acquire load before the record") {
  auto ch = unnamed_channel("test.spsc");
  // Two handles of one ring, as the hub's and a client's are: each caches the other's index.
  // (Under ThreadSanitizer, an index published or read without release/acquire is a race
  // between the producer's copy into a record and the consumer's copy out of it.)
  lab::Ring producer = ch.up();
  lab::Ring consumer = ch.up();
  constexpr std::uint64_t kRecords = 20'000;  // about 30 MB: the ring wraps over a hundred times
  auto record = [](std::uint64_t i) {
    std::string m((i * 7919) % 3000, static_cast<char>('a' + i % 26));
    return m + std::to_string(i);
  };
  std::atomic<bool> give_up{false};
  std::thread t([&] {
    for (std::uint64_t i = 0; i < kRecords && !give_up.load();)
      if (producer.try_push(record(i)))
        ++i;
      else
        std::this_thread::yield();
  });
  const auto deadline = grader::deadline(60'000ms);
  std::string got;
  std::uint64_t popped = 0;
  while (popped < kRecords && !deadline.expired()) {
    if (!consumer.try_pop(got)) {
      std::this_thread::yield();
      continue;
    }
    if (got != record(popped)) {
      ADD_FAILURE() << "record " << popped << " came out as `" << grader::excerpt(got, 80) << "`";
      break;
    }
    ++popped;
  }
  give_up = true;
  t.join();
  EXPECT_EQ(popped, kRecords) << "records taken before the deadline";
  EXPECT_TRUE(consumer.empty());
}
