// Lab 06 public grader: every mechanism runs and verifies its messages, a corrupted
// message fails loudly, the CSV and JSON parse back, sizes over a limit are usage errors,
// the options work, and nothing is left behind. Speed is never asserted.
#include <sched.h>   // sched_getaffinity
#include <signal.h>  // SIGINT

#include <algorithm>  // std::count
#include <cstring>    // std::memcpy
#include <set>        // std::set
#include <sstream>    // std::istringstream

#include "common.hpp"
#include "ipclab/process.hpp"  // child_pids
#include "lab06/channel.hpp"
#include "lab06/payload.hpp"

namespace lab = ipclab::lab06;

GRADER_LAB("lab06", "IPC mechanism benchmark");

using grader::expect_exit;
using grader::run;
using lab::fill_message;
using lab::Verdict;
using lab::verify_message;
using lab06_test::csv_rows;
using lab06_test::kMechanisms;
using lab06_test::objects_now;
using lab06_test::tiny;
using Bytes = std::vector<std::byte>;

namespace {

Bytes message(std::size_t size, std::uint64_t seq) {
  Bytes m(size);
  fill_message(m, seq);
  return m;
}

/// Runs one mechanism with tiny counts and checks that it reported sane numbers.
void expect_runs_and_verifies(const std::string& mech, std::size_t size = 1024) {
  auto r = run(tiny(mech, "csv", size), lab06_test::slow_ok());
  expect_exit(r, 0);
  auto rows = csv_rows(r, nullptr);
  ASSERT_EQ(rows.count(mech), 1u) << "no CSV row for " << mech << "\n" << r.describe();
  const auto& row = rows[mech];
  double rate = 0, p50 = 0;
  EXPECT_EQ(row[2], "1") << "runs column\n" << r.describe();
  EXPECT_TRUE(lab06_test::is_number(row[3], &rate) && rate > 0) << r.describe();
  EXPECT_TRUE(lab06_test::is_number(row[8], &p50) && p50 > 0) << r.describe();
  EXPECT_EQ(objects_now(), "") << "objects left after a finished run";
}

}  // namespace

// ---- the payload ------------------------------------------------------------------------

GRADED_TEST(Payload, FillThenVerifyAcceptsEverySize, 2, "README §Payload") {
  for (std::size_t size : {16, 17, 23, 24, 25, 31, 32, 33, 47, 48, 100, 1001, 1024, 4099}) {
    for (std::uint64_t seq : {0ull, 1ull, 12345ull, ~0ull}) {
      const Bytes m = message(size, seq);
      EXPECT_EQ(lab::message_sequence(m), seq) << "size " << size;
      EXPECT_EQ(verify_message(m, seq), Verdict::kOk) << "size " << size << " seq " << seq;
    }
  }
  Bytes tiny_msg(15);
  EXPECT_THROW(fill_message(tiny_msg, 1), std::invalid_argument);
}

GRADED_TEST(Payload, WrongSequenceAndShortMessageAreCaught, 1, "README §Payload") {
  const Bytes m = message(256, 41);
  EXPECT_EQ(verify_message(m, 42), Verdict::kWrongSequence) << "message 41 accepted as 42";
  EXPECT_EQ(verify_message(m, 40), Verdict::kWrongSequence);
  EXPECT_EQ(verify_message(std::span(m).first(10), 41), Verdict::kTooShort);
}

GRADED_TEST(Payload, EveryBitFlipIsCaught, 3,
            "README §Pitfalls 5 — the checksum must cover every body byte, the tail included") {
  for (std::size_t size : {16, 29, 1000}) {
    const Bytes good = message(size, 7);
    for (std::size_t byte = 0; byte < size; ++byte) {
      for (int bit = 0; bit < 8; ++bit) {
        Bytes bad = good;
        bad[byte] ^= std::byte(1u << bit);
        const Verdict v = verify_message(bad, 7);
        const Verdict want = byte < 8 ? Verdict::kWrongSequence : Verdict::kBadChecksum;
        ASSERT_EQ(v, want) << "a " << size << "-byte message with bit " << bit << " of byte "
                           << byte << " flipped gave verdict " << static_cast<int>(v);
      }
    }
  }
}

GRADED_TEST(Payload, SwappedWordsAndStaleTailAreCaught, 2,
            "README §Pitfalls 5 — a sum or xor of words misses swaps; the body must depend on "
            "the sequence number") {
  const Bytes good = message(1024, 3);
  // Two different body words exchanged.
  for (std::size_t a : {16u, 24u, 64u}) {
    for (std::size_t b : {32u, 40u, 512u, 1016u}) {
      Bytes bad = good;
      std::uint64_t wa = 0, wb = 0;
      std::memcpy(&wa, &bad[a], 8);
      std::memcpy(&wb, &bad[b], 8);
      ASSERT_NE(wa, wb) << "body words at " << a << " and " << b << " are equal";
      std::memcpy(&bad[a], &wb, 8);
      std::memcpy(&bad[b], &wa, 8);
      EXPECT_EQ(verify_message(bad, 3), Verdict::kBadChecksum)
          << "words at offsets " << a << " and " << b << " swapped: not detected";
    }
  }
  // A receive that wrote only the first half: the rest is still message 2's.
  Bytes stale = message(1024, 2);
  std::memcpy(stale.data(), good.data(), 512);
  EXPECT_EQ(verify_message(stale, 3), Verdict::kBadChecksum)
      << "header and first half of message 3 over the tail of message 2: not detected";
  // Every whole body word differs from the same word of another message.
  const Bytes other = message(1024, 4);
  for (std::size_t off = 16; off + 8 <= 1024; off += 8)
    ASSERT_NE(std::memcmp(&good[off], &other[off], 8), 0)
        << "messages 3 and 4 have the same body word at offset " << off;
}

GRADED_TEST(Payload, EveryTailLengthIsFilledCheckedAndInBounds, 2,
            "README §Pitfalls 5 — the 0-7 tail bytes: filled from the pattern, folded into the "
            "checksum, and not one byte past the message") {
  // Bodies of 0..64 bytes: every tail length after 0..8 whole words (every lane and every
  // word left over by a four-word loop).
  constexpr std::size_t kGuard = 16;
  for (std::size_t size = lab::kMinMessageSize; size <= lab::kMinMessageSize + 64; ++size) {
    SCOPED_TRACE(fmt::format("a {}-byte message (body {} bytes)", size, size - 16));
    // fill_message writes its message and nothing around it.
    Bytes buf(kGuard + size + kGuard, std::byte{0xA5});
    const std::span<std::byte> msg = std::span(buf).subspan(kGuard, size);
    fill_message(msg, 7);
    for (std::size_t i = 0; i < kGuard; ++i) {
      ASSERT_EQ(buf[i], std::byte{0xA5}) << "fill_message wrote before the message";
      ASSERT_EQ(buf[kGuard + size + i], std::byte{0xA5})
          << "fill_message wrote " << i + 1 << " byte(s) past the end of the message";
    }
    ASSERT_EQ(verify_message(msg, 7), Verdict::kOk);
    // checksum64 reads its span and nothing around it: the same bytes between other
    // neighbours give the same checksum.
    Bytes elsewhere(kGuard + size + kGuard, std::byte{0x5A});
    std::memcpy(&elsewhere[kGuard], msg.data(), size);
    const auto body = msg.subspan(lab::kHeaderSize);
    EXPECT_EQ(lab::checksum64(body, 3),
              lab::checksum64(std::span(elsewhere).subspan(kGuard + 16, size - 16), 3))
        << "checksum64 of the same body differs with the bytes around it: it reads outside "
           "its span";
    // Every bit of the body, the tail's included, is seen.
    for (std::size_t byte = lab::kHeaderSize; byte < size; ++byte)
      for (int bit = 0; bit < 8; ++bit) {
        Bytes bad(msg.begin(), msg.end());
        bad[byte] ^= std::byte(1u << bit);
        ASSERT_EQ(verify_message(bad, 7), Verdict::kBadChecksum)
            << "bit " << bit << " of byte " << byte << " flipped: not detected";
      }
    // The tail bytes come from the pattern: each changes with the sequence number.
    const std::size_t words_end = lab::kHeaderSize + (size - lab::kHeaderSize) / 8 * 8;
    for (std::size_t byte = words_end; byte < size; ++byte) {
      std::set<std::byte> seen;
      for (std::uint64_t seq = 0; seq < 16; ++seq) seen.insert(message(size, seq)[byte]);
      EXPECT_GT(seen.size(), 1u) << "tail byte " << byte
                                 << " is the same in messages 0-15: it does not come from the "
                                    "sequence number's pattern";
    }
  }
}

// ---- limits -----------------------------------------------------------------------------

GRADED_TEST(Limits, ReadFromProc, 2, "README §Limits") {
  using lab::Mechanism;
  const long mq = lab06_test::proc_number("/proc/sys/fs/mqueue/msgsize_max");
  const long msgmax = lab06_test::proc_number("/proc/sys/kernel/msgmax");
  const long msgmnb = lab06_test::proc_number("/proc/sys/kernel/msgmnb");
  if (mq < 0 || msgmax < 0 || msgmnb < 0) GTEST_SKIP() << "/proc/sys limits unreadable";
  const auto p = lab::message_limit(Mechanism::kPosixMq);
  EXPECT_EQ(p.bytes, static_cast<std::size_t>(mq));
  EXPECT_EQ(p.source, "/proc/sys/fs/mqueue/msgsize_max");
  const auto s = lab::message_limit(Mechanism::kSysvMq);
  EXPECT_EQ(s.bytes, static_cast<std::size_t>(std::min(msgmax, msgmnb)));
  EXPECT_NE(s.source.find("/proc/sys/kernel/msgm"), std::string::npos) << s.source;
  for (Mechanism m : {Mechanism::kPipe, Mechanism::kFifo, Mechanism::kUds})
    EXPECT_EQ(lab::message_limit(m).bytes, lab::kStreamMaxMessage);
  EXPECT_EQ(lab::message_limit(Mechanism::kShmSem).bytes, lab::kShmMaxMessage);
  for (Mechanism m : lab::kAllMechanisms)
    EXPECT_FALSE(lab::message_limit(m).source.empty()) << mechanism_name(m);
}

GRADED_TEST(Limits, SizesOutsideTheLimitsAreUsageErrors, 4, "README §Limits") {
  for (const char* size : {"--msg-size=0", "--msg-size=15"}) {
    auto r = run({"ipc_benchmark", size, "--iterations=10", "--runs=1"});
    expect_exit(r, 2);
    EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << r.describe();
    EXPECT_NE(r.err.find("16"), std::string::npos) << "the minimum is not named\n" << r.describe();
  }
  const long mq = lab06_test::proc_number("/proc/sys/fs/mqueue/msgsize_max");
  const long msgmax = lab06_test::proc_number("/proc/sys/kernel/msgmax");
  const long msgmnb = lab06_test::proc_number("/proc/sys/kernel/msgmnb");
  if (mq < 0 || msgmax < 0 || msgmnb < 0) GTEST_SKIP() << "/proc/sys limits unreadable";
  struct Case {
    std::string mech;
    long limit;
    std::string source;
  };
  const long sysv = std::min(msgmax, msgmnb);
  const std::vector<Case> cases = {
      {"posix_mq", mq, "/proc/sys/fs/mqueue/msgsize_max"},
      {"sysv_mq", sysv, msgmnb < msgmax ? "/proc/sys/kernel/msgmnb" : "/proc/sys/kernel/msgmax"},
      {"pipe", static_cast<long>(lab::kStreamMaxMessage), ""},
      {"shm_sem", static_cast<long>(lab::kShmMaxMessage), ""}};
  for (const auto& c : cases) {
    auto r = run({"ipc_benchmark", "--mechanisms=" + c.mech,
                  "--msg-size=" + std::to_string(c.limit + 1), "--iterations=10", "--runs=1"});
    expect_exit(r, 2);
    const std::string want =
        fmt::format("error: --msg-size {} exceeds {} limit {}", c.limit + 1, c.mech, c.limit);
    EXPECT_NE(r.err.find(want), std::string::npos) << "expected `" << want << "`\n" << r.describe();
    EXPECT_NE(r.err.find(c.source), std::string::npos) << "the limit's source is not named\n"
                                                       << r.describe();
  }
  // A selection whose limits fit runs, even above the queues' limits.
  auto ok = run({"ipc_benchmark", "--mechanisms=pipe,shm_sem",
                 "--msg-size=" + std::to_string(std::max(mq, sysv) + 1000), "--iterations=20",
                 "--round-trips=5", "--warmup=2", "--runs=1", "--timeout=5"},
                lab06_test::slow_ok());
  expect_exit(ok, 0);
}

GRADED_TEST(Limits, ImplicitMechanismOverItsLimitIsSkippedWithANote, 2, "README §Limits") {
  const long mq = lab06_test::proc_number("/proc/sys/fs/mqueue/msgsize_max");
  if (mq < 0 || mq >= 65536) GTEST_SKIP() << "msgsize_max is " << mq << ", not below 65536";
  auto r = run({"ipc_benchmark", "--msg-size=65536", "--iterations=20", "--round-trips=5",
                "--warmup=2", "--runs=1", "--timeout=5"},
               lab06_test::slow_ok());
  expect_exit(r, 0);
  std::istringstream lines(r.out);
  bool skipped = false, pipe_row = false;
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("posix_mq", 0) == 0)
      skipped = line.find("skipped") != std::string::npos &&
                line.find(fmt::format("limit {}", mq)) != std::string::npos;
    if (line.rfind("pipe ", 0) == 0) pipe_row = true;
  }
  EXPECT_TRUE(skipped) << "no `posix_mq ... skipped ... limit " << mq << "` row\n" << r.describe();
  EXPECT_TRUE(pipe_row) << "no pipe row\n" << r.describe();
}

// ---- every mechanism runs and verifies ---------------------------------------------------

GRADED_TEST(Run, PipeRunsAndVerifies, 2, "README §Pitfalls 4") { expect_runs_and_verifies("pipe"); }
GRADED_TEST(Run, FifoRunsAndVerifies, 2, "README §Pitfalls 2 — FIFO opens in a deadlock order") {
  expect_runs_and_verifies("fifo");
}
GRADED_TEST(Run, UdsRunsAndVerifies, 2) { expect_runs_and_verifies("uds"); }
GRADED_TEST(Run, PosixMqRunsAndVerifies, 2, "README §Pitfalls 3") {
  expect_runs_and_verifies("posix_mq");
}
GRADED_TEST(Run, SysvMqRunsAndVerifies, 2, "README §Pitfalls 3 — mtype and msgsz") {
  expect_runs_and_verifies("sysv_mq");
}
GRADED_TEST(Run, ShmSemRunsAndVerifies, 3, "README §Pitfalls 9 — wait before you touch a slot") {
  expect_runs_and_verifies("shm_sem");
}

GRADED_TEST(Run, LargeMessagesCrossByteStreamsWhole, 3,
            "README §Pitfalls 1 — a read may return part of a message") {
  // 300000 bytes: several times a pipe's or a socket's buffer, so reads come back short.
  for (const auto& mech : {"pipe", "fifo", "uds"}) {
    auto r = run({"ipc_benchmark", std::string("--mechanisms=") + mech, "--msg-size=300000",
                  "--iterations=40", "--round-trips=10", "--warmup=2", "--runs=1", "--timeout=5",
                  "--format=csv"},
                 lab06_test::slow_ok());
    expect_exit(r, 0);
  }
}

GRADED_TEST(Run, QueuesCarryMessagesAtTheirLimit, 2,
            "README §Pitfalls 3 — the receive buffer and msgsz") {
  for (const auto& mech : {"posix_mq", "sysv_mq"}) {
    const auto lim = lab::message_limit(*lab::parse_mechanism(mech)).bytes;
    ASSERT_NO_FATAL_FAILURE(expect_runs_and_verifies(mech, lim)) << mech;
  }
}

// ---- verification ----------------------------------------------------------------------

GRADED_TEST(Verify, CorruptedPayloadFailsLoudlyOnEveryMechanism, 4,
            "README §Pitfalls 5 — verify every message you receive") {
  // The harness's test hook flips one bit of stream message 3 after fill_message.
  grader::RunOptions o = lab06_test::slow_ok();
  o.env = {"IPCLAB_BENCH_CORRUPT=3"};
  for (const auto& mech : kMechanisms) {
    auto r = run(tiny(mech, "table"), o);
    expect_exit(r, 1);
    const std::string want = fmt::format("error: {}: verification failed: message 3", mech);
    EXPECT_NE(r.err.find(want), std::string::npos) << "expected `" << want << "`\n" << r.describe();
    EXPECT_EQ(r.out.find(mech + " "), std::string::npos)
        << "a table was printed although a message was corrupted\n"
        << r.describe();
  }
}

// ---- output ---------------------------------------------------------------------------

GRADED_TEST(Output, CsvParsesBack, 2, "README §Output") {
  auto r = run(tiny("pipe,posix_mq,shm_sem", "csv"), lab06_test::slow_ok());
  expect_exit(r, 0);
  std::vector<std::string> header;
  auto rows = csv_rows(r, &header);
  const std::vector<std::string> want = {
      "mechanism",      "msg_size",   "runs",          "msgs_per_s", "msgs_per_s_min",
      "msgs_per_s_max", "mb_per_s",   "rtt_avg_us",    "rtt_p50_us", "rtt_p50_min_us",
      "rtt_p50_max_us", "rtt_p99_us", "ratio_vs_pipe", "note"};
  EXPECT_EQ(header, want);
  ASSERT_EQ(rows.size(), 3u) << r.describe();
  for (const auto& [name, row] : rows) {
    for (std::size_t i = 1; i + 1 < row.size(); ++i)
      EXPECT_TRUE(lab06_test::is_number(row[i]))
          << name << " column " << header[i] << " = \"" << row[i] << "\"";
    double lo = 0, mid = 0, hi = 0, mb = 0;
    lab06_test::is_number(row[3], &mid);
    lab06_test::is_number(row[4], &lo);
    lab06_test::is_number(row[5], &hi);
    lab06_test::is_number(row[6], &mb);
    EXPECT_TRUE(lo <= mid && mid <= hi) << name << ": min <= median <= max";
    EXPECT_NEAR(mb, mid * 1024 / 1e6, mid * 1024 / 1e6 * 0.01 + 0.01) << name << ": MB/s";
  }
  EXPECT_EQ(rows["pipe"][12], "1.0000") << "pipe against itself";
}

GRADED_TEST(Output, JsonParsesBackInThePerfShape, 3, "README §Output") {
  auto r = run(tiny("pipe,fifo,sysv_mq", "json"), lab06_test::slow_ok());
  expect_exit(r, 0);
  lab06_test::Json j;
  try {
    j = lab06_test::parse_json(r.out);
  } catch (const std::exception& e) {
    FAIL() << "the JSON output does not parse: " << e.what() << "\n" << r.describe();
  }
  using T = lab06_test::Json::Type;
  ASSERT_EQ(j.type, T::kObject);
  ASSERT_TRUE(j.get("benchmark") && j.get("benchmark")->string == "ipc_benchmark") << r.out;
  const auto* params = j.get("params");
  ASSERT_TRUE(params && params->type == T::kObject) << r.out;
  ASSERT_TRUE(params->get("msg_size") && params->get("msg_size")->number == 1024) << r.out;
  const auto* results = j.get("results");
  ASSERT_TRUE(results && results->type == T::kArray) << r.out;
  std::vector<std::string> names;
  for (const auto& e : results->array) {
    ASSERT_EQ(e.type, T::kObject);
    ASSERT_TRUE(e.get("name") && e.get("name")->type == T::kString) << r.out;
    names.push_back(e.get("name")->string);
    for (const char* key : {"ops_per_s", "bytes_per_s", "p50_ns", "p99_ns"}) {
      const auto* v = e.get(key);
      ASSERT_TRUE(v && v->type == T::kNumber) << names.back() << "." << key << " missing\n"
                                              << r.out;
      EXPECT_GT(v->number, 0) << names.back() << "." << key;
    }
    EXPECT_LE(e.get("p50_ns")->number, e.get("p99_ns")->number) << names.back();
    EXPECT_NEAR(e.get("bytes_per_s")->number, e.get("ops_per_s")->number * 1024,
                e.get("ops_per_s")->number * 1024 * 1e-3)
        << names.back();
  }
  EXPECT_EQ(names, (std::vector<std::string>{"pipe", "fifo", "sysv_mq"}));
  const auto* ratios = j.get("ratios");
  ASSERT_TRUE(ratios && ratios->type == T::kObject) << r.out;
  for (const char* key : {"fifo/pipe", "sysv_mq/pipe"})
    EXPECT_TRUE(ratios->get(key) && ratios->get(key)->number > 0) << key << "\n" << r.out;
}

GRADED_TEST(Output, TableHasOneRowPerMechanism, 1, "README §Output") {
  auto r = run(tiny("pipe,fifo,uds,posix_mq,sysv_mq,shm_sem", "table"), lab06_test::slow_ok());
  expect_exit(r, 0);
  EXPECT_NE(r.out.find("Mechanism"), std::string::npos) << r.describe();
  for (const auto& m : kMechanisms) {
    const auto at = r.out.find("\n" + m + " ");
    EXPECT_NE(at, std::string::npos) << "no row for " << m << "\n" << r.describe();
  }
}

// ---- options --------------------------------------------------------------------------

GRADED_TEST(Options, RunsWarmupAndFormatAreHonoured, 1, "README §The program") {
  auto r = run({"ipc_benchmark", "--mechanisms=uds,pipe", "--iterations=50", "--round-trips=10",
                "--warmup=0", "--runs=3", "--timeout=5", "--format=json"},
               lab06_test::slow_ok());
  expect_exit(r, 0);
  const auto j = lab06_test::parse_json(r.out);
  EXPECT_EQ(j.get("params")->get("runs")->number, 3);
  EXPECT_EQ(j.get("params")->get("warmup")->number, 0);
  EXPECT_EQ(j.get("results")->array.at(0).get("runs")->number, 3) << r.out;
  EXPECT_TRUE(j.get("ratios")->get("uds/pipe")) << "pipe is the baseline when it runs\n" << r.out;
  expect_exit(run({"ipc_benchmark", "--format=xml"}), 2);
  expect_exit(run({"ipc_benchmark", "--mechanisms=pipe,carrier_pigeon"}), 2);
  expect_exit(run({"ipc_benchmark", "--runs=0"}), 2);
}

GRADED_TEST(Options, PinPutsTheSidesOnTheNamedCpus, 1, "README §The program") {
  cpu_set_t set;
  CPU_ZERO(&set);
  ::sched_getaffinity(0, sizeof set, &set);
  if (CPU_COUNT(&set) < 2) GTEST_SKIP() << "needs 2 CPUs, this test may use " << CPU_COUNT(&set);
  // --pin alone means cross: look at the two sides while they run.
  grader::Process p({"ipc_benchmark", "--mechanisms=pipe", "--iterations=2000000000", "--pin",
                     "--runs=1", "--warmup=0", "--timeout=30"});
  std::set<std::string> cpus;
  const bool pinned = grader::wait_until(
      [&] {
        if (!p.running()) return true;  // reported below, without waiting out the deadline
        cpus.clear();
        const auto kids = ipclab::child_pids(p.pid());
        if (kids.size() != 2) return false;
        for (pid_t k : kids) {
          const std::string status = ipclab::read_file(fmt::format("/proc/{}/status", k));
          const auto at = status.find("Cpus_allowed_list:");
          if (at == std::string::npos) return false;
          std::string list = status.substr(at + 18, status.find('\n', at) - at - 18);
          list.erase(0, list.find_first_not_of(" \t"));
          if (list.find_first_of(",-") != std::string::npos) return false;  // not pinned yet
          cpus.insert(list);
        }
        return cpus.size() == 2;
      },
      10'000ms);
  ASSERT_TRUE(p.running()) << "ipc_benchmark ended early:\n" << p.finish().describe();
  p.signal(SIGINT);
  auto r = p.finish(10'000ms);
  EXPECT_TRUE(pinned && cpus.size() == 2)
      << "the two sides were not seen on two single, different CPUs";
  expect_exit(r, 1);
  auto same = run({"ipc_benchmark", "--mechanisms=pipe", "--iterations=50", "--round-trips=10",
                   "--warmup=0", "--runs=1", "--pin=same", "--format=json", "--timeout=5"},
                  lab06_test::slow_ok());
  expect_exit(same, 0);
  const auto j = lab06_test::parse_json(same.out);
  EXPECT_EQ(j.get("params")->get("pin")->string, "same");
  const auto* c = j.get("params")->get("cpus");
  ASSERT_TRUE(c && c->array.size() == 2) << same.out;
  EXPECT_EQ(c->array[0].number, c->array[1].number) << same.out;
}

// ---- cleanup ---------------------------------------------------------------------------

GRADED_TEST(Cleanup, SigintMidRunRemovesEveryObject, 4,
            "README §Pitfalls 6 — the Transport's destructor removes every name") {
  // What each mechanism must have created (inventory kinds) while it runs.
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
      {"fifo", {"fifo", "fifo"}},
      {"uds", {"socket"}},
      {"posix_mq", {"mqueue", "mqueue"}},
      {"sysv_mq", {"sysv-msg"}},
      {"shm_sem", {"shm", "sem", "sem", "sem", "sem"}}};
  for (const auto& [mech, kinds] : cases) {
    grader::Process p({"ipc_benchmark", "--mechanisms=" + mech, "--iterations=2000000000",
                       "--runs=1", "--warmup=0", "--timeout=30"});
    std::string seen;
    const bool running = grader::wait_until(
        [&] {
          if (!p.running()) return true;  // reported below, without waiting out the deadline
          seen = objects_now();
          std::vector<std::string> got;
          for (const auto& o : ipclab::inventory(grader::ns(), grader::rundir()))
            got.push_back(ipclab::kind_name(o.kind));
          std::sort(got.begin(), got.end());
          auto want = kinds;
          std::sort(want.begin(), want.end());
          return got == want && ipclab::child_pids(p.pid()).size() == 2;
        },
        5'000ms);
    ASSERT_TRUE(p.running()) << mech << ": ipc_benchmark ended early:\n" << p.finish().describe();
    ASSERT_TRUE(running) << mech << ": expected objects "
                         << fmt::format("{}", fmt::join(kinds, ", "))
                         << " and two sides running; the namespace holds:\n"
                         << seen << p.err();
    p.signal(SIGINT);
    auto r = p.finish(10'000ms);
    expect_exit(r, 1);
    EXPECT_NE(r.err.find("interrupted"), std::string::npos) << r.describe();
    EXPECT_EQ(objects_now(), "") << mech << ": left behind after SIGINT";
  }
}
