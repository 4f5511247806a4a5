// Lab 19 public grader: ipc_demo (the three exchanges and the bench), fdpass, and usage.
#include <signal.h>    // kill, SIGSTOP, SIGCONT
#include <sys/stat.h>  // mkfifo
#include <sys/wait.h>  // waitid

#include <algorithm>  // std::sort
#include <fstream>    // std::ofstream
#include <vector>     // std::vector

#include "common.hpp"
#include "ipclab/error.hpp"    // check_unix
#include "ipclab/process.hpp"  // child_pids, process_state
#include "lab19/demo.hpp"      // run_bench, BenchOptions

using grader::expect_exit;
using grader::expect_output;
using grader::run;

namespace {

void expect_usage_error(const std::vector<std::string>& argv,
                        std::source_location where = std::source_location::current()) {
  auto r = run(argv);
  grader::expect_exit(r, 2, where);
  EXPECT_EQ(r.err.rfind("error: ", 0), 0u)
      << "bad input must print `error: ...` on stderr\n"
      << r.describe() << "\n  (at " << where.file_name() << ":" << where.line() << ")";
}

/// A bench small enough for a test: `rounds` rounds (all of them run) of 10 pings and a
/// stream of 4 messages per mechanism.
ipclab::lab19::BenchOptions small_bench(int rounds) {
  ipclab::lab19::BenchOptions o;
  o.max_rounds = rounds;
  o.budget_s = 1e9;
  o.pings = 10;
  o.stream_bytes = 4 * o.chunk_bytes;
  return o;
}

}  // namespace

GRADED_TEST(Demo, PipeShmSockExchange, 4,
            "README §Pitfalls 12 and 13 — flush before fork; the parent closes the child's ends") {
  for (const std::string mode : {"pipe", "shm", "sock"}) {
    auto r = run({"ipc_demo", mode});
    expect_output(r, lab19_test::demo_output(mode, "4096"));
    expect_exit(r, 0);
    for (const std::string size : {"1", "100003", "3145728"}) {
      auto q = run({"ipc_demo", mode, "--size", size, "--seed", "7"}, {.timeout = 20'000ms});
      expect_output(q, lab19_test::demo_output(mode, size));
      expect_exit(q, 0);
    }
  }
}

GRADED_TEST(Demo, BadSizesAreUsageErrors, 2, "README §Program — bad input is exit 2") {
  for (const std::string mode : {"pipe", "shm", "sock"}) {
    auto r = run({"ipc_demo", mode, "--size", "0"});
    expect_exit(r, 2);
    EXPECT_EQ(r.err, "error: size must be > 0\n") << r.describe();
    expect_usage_error({"ipc_demo", mode, "--size", "-5"});
    expect_usage_error({"ipc_demo", mode, "--size", "67108865"});
    expect_usage_error({"ipc_demo", mode, "--size", "lots"});
  }
  expect_usage_error({"ipc_demo", "fifo"});
  expect_usage_error({"ipc_demo"});
  expect_usage_error({"ipc_demo", "bench", "--size", "4096"});
}

GRADED_TEST(Demo, StoppedReaderIsKilledAndReaped, 1,
            "README §Pitfalls 13 — a dead or stopped peer never posts: the shm wait's deadline "
            "ends it, and the parent kills and reaps the child before it reports the error") {
  // The reader is stopped while 64 MiB (the largest size) are still on their way, before
  // it can answer: the writer's next semaphore wait passes its deadline. Stopping it in
  // time is a race the test usually wins at once; a run it loses (the answer came first)
  // must then be a whole exchange, and the test tries again.
  const auto whole_run = [](grader::Process& demo) {
    const auto r = demo.finish(30'000ms);
    expect_output(r, lab19_test::demo_output("shm", "67108864"));
    expect_exit(r, 0);
  };
  for (int attempt = 0; attempt < 5; ++attempt) {
    grader::Process demo({"ipc_demo", "shm", "--size", "67108864"});
    pid_t reader = 0;
    grader::wait_until(
        [&] {
          const auto kids = ipclab::child_pids(demo.pid());
          if (!kids.empty()) reader = kids.front();
          return reader != 0 || demo.exited();
        },
        10'000ms);
    if (reader == 0) {  // done before the test saw its child
      whole_run(demo);
      continue;
    }
    ::kill(reader, SIGSTOP);
    grader::wait_until(
        [&] {
          const char st = ipclab::process_state(reader);
          return st == 'T' || st == 'Z' || st == 0;
        },
        10'000ms);
    if (ipclab::process_state(reader) != 'T' || demo.out().find("reader:") != std::string::npos) {
      ::kill(reader, SIGCONT);  // it had answered (or ended) already
      whole_run(demo);
      continue;
    }
    const auto st = demo.wait(25'000ms);
    ASSERT_TRUE(st.has_value())
        << "ipc_demo shm still runs 25 s after its reader stopped: the shm wait needs a "
           "deadline, and the parent must kill the child it then waits for";
    EXPECT_EQ(st->exit_code(), 3) << st->describe() << "\n" << demo.err();
    EXPECT_EQ(demo.err().rfind("error: ", 0), 0u) << demo.err();
    EXPECT_EQ(ipclab::process_state(reader), 0)
        << "the stopped reader (pid " << reader << ") is still there after ipc_demo ended";
    return;
  }
}

GRADED_TEST(Demo, BenchPrintsVerifiedTable, 5,
            "README §Bench — every message verified (a damaged one stops it), the three "
            "mechanisms in one table, at most 5 rounds and no new one after 2 s") {
  auto r = run({"ipc_demo", "bench", "--seed", "42"}, {.timeout = 60'000ms});
  grader::expect_finished(r);
  expect_exit(r, 0);
  int rounds = 0;
  double seconds = 0;
  for (const auto& l : lab19_test::lines(r.out))
    if (std::sscanf(l.c_str(),
                    "ipc_demo bench: seed 42, %d round(s), mechanisms interleaved in "
                    "each, %lf s",
                    &rounds, &seconds) == 2)
      break;
  EXPECT_TRUE(rounds >= 1 && rounds <= 5) << "rounds: " << rounds << "\n" << r.out;
  // Fewer than 5 rounds only when the budget stopped it: then more than 2 s have passed.
  EXPECT_TRUE(rounds == 5 || seconds > 2.0)
      << rounds << " round(s) in " << seconds << " s: no new round starts only after 2 s\n"
      << r.out;
  for (const std::string name : {"pipe", "shm+sem", "socketpair"}) {
    bool found = false;
    for (const auto& l : lab19_test::lines(r.out)) {
      if (l.rfind(name + " ", 0) != 0) continue;
      found = true;
      double p50 = 0, p99 = 0, mbs = 0;
      ASSERT_EQ(std::sscanf(l.c_str() + name.size(), "%lf %lf %lf", &p50, &p99, &mbs), 3) << l;
      EXPECT_GT(p50, 0.0) << l;
      EXPECT_GE(p99, p50) << l;
      EXPECT_GT(mbs, 0.0) << l;
      EXPECT_EQ(std::stoull(l.substr(l.find_last_of(' ') + 1)) > 0, true)
          << "the last column counts verified messages: " << l;
    }
    EXPECT_TRUE(found) << "no table row for " << name << ":\n" << r.out;
  }
  auto j = run({"ipc_demo", "bench", "--format", "json"}, {.timeout = 60'000ms});
  expect_exit(j, 0);
  EXPECT_EQ(j.out.rfind("{\"benchmark\": ", 0), 0u) << j.out;
  for (const std::string key : {"\"results\"", "\"p50_ns\"", "\"bytes_per_s\"", "\"ratios\""})
    EXPECT_NE(j.out.find(key), std::string::npos) << key << " missing:\n" << j.out;
  // The test hook damages one message of every session: a ping (5), then a stream message
  // (1000 pings come first, so 1010 is the stream's 11th). Its receiver must catch it.
  for (const std::string n : {"5", "1010"}) {
    auto bad =
        run({"ipc_demo", "bench"}, {.timeout = 60'000ms, .env = {"IPCLAB_BENCH_CORRUPT=" + n}});
    grader::expect_finished(bad);
    expect_exit(bad, 1);
    EXPECT_NE(bad.err.find("verification failed"), std::string::npos)
        << "IPCLAB_BENCH_CORRUPT=" << n << " must end with `verification failed`\n"
        << bad.describe();
    EXPECT_EQ(bad.out.find("socketpair "), std::string::npos)
        << "a run with a damaged message printed a table:\n"
        << bad.describe();
  }
}

GRADED_TEST(Demo, BenchRefusesOptionsThatCannotWork, 1,
            "README §Bench — run_bench refuses options that cannot work with a UsageError, "
            "before it starts anything") {
  namespace lab = ipclab::lab19;
  const auto with = [](auto change) {
    lab::BenchOptions o;
    change(o);
    return o;
  };
  EXPECT_THROW(lab::run_bench(with([](lab::BenchOptions& o) { o.max_rounds = 0; })),
               ipclab::UsageError)
      << "max_rounds 0";
  EXPECT_THROW(lab::run_bench(with([](lab::BenchOptions& o) { o.pings = 0; })), ipclab::UsageError)
      << "pings 0";
  EXPECT_THROW(lab::run_bench(with([](lab::BenchOptions& o) { o.ping_bytes = 1; })),
               ipclab::UsageError)
      << "1-byte pings (no room for a sequence number and a checksum)";
  EXPECT_THROW(
      lab::run_bench(with([](lab::BenchOptions& o) { o.stream_bytes = o.chunk_bytes - 1; })),
      ipclab::UsageError)
      << "a stream shorter than one message";
}

GRADED_TEST(Demo, BenchCountsEveryVerifiedMessage, 1,
            "README §Bench — up to max_rounds rounds of pipe, shm+sem and socketpair in turn; "
            "the last column counts every message verified, pings and stream") {
  const auto r = ipclab::lab19::run_bench(small_bench(2));
  EXPECT_EQ(r.rounds, 2);
  ASSERT_EQ(r.rows.size(), 3u);
  const char* names[] = {"pipe", "shm+sem", "socketpair"};
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(r.rows[i].name, names[i]);
    EXPECT_EQ(r.rows[i].verified, 2u * (10 + 4))
        << r.rows[i].name << ": 2 rounds of 10 pings and 4 stream messages";
    EXPECT_GT(r.rows[i].mb_per_s, 0.0) << r.rows[i].name;
  }
}

GRADED_TEST(Demo, BenchLatencyIsTheNearestRankOfItsRoundTrips, 1,
            "README §Bench — each row keeps its round trips (rtt_ns, every round's); p50 and "
            "p99 are their nearest-rank percentiles, in microseconds") {
  // 2 rounds of 50 pings: 100 round trips, where the 49th, 50th, 98th, 99th and 100th
  // percentiles are five different ranks.
  auto o = small_bench(2);
  o.pings = 50;
  const auto r = ipclab::lab19::run_bench(o);
  ASSERT_EQ(r.rows.size(), 3u);
  for (const auto& row : r.rows) {
    ASSERT_EQ(row.rtt_ns.size(), 100u) << row.name << ": 2 rounds of 50 pings";
    std::vector<double> sorted = row.rtt_ns;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_GT(sorted.front(), 0.0) << row.name << ": a round trip takes time";
    // Nearest rank: the smallest sample with at least p% of them at or below it.
    const auto rank = [&](int p) { return sorted[std::size_t(p) * sorted.size() / 100 - 1]; };
    EXPECT_DOUBLE_EQ(row.rtt_p50_us, rank(50) / 1e3)
        << row.name << ": p50 of 100 round trips is the 50th smallest, in microseconds";
    EXPECT_DOUBLE_EQ(row.rtt_p99_us, rank(99) / 1e3)
        << row.name << ": p99 of 100 round trips is the 99th smallest, in microseconds";
  }
}

GRADED_TEST(Demo, BenchRunsTheSmallestOptionsThatWork, 1,
            "README §Bench — one round, one ping, messages of 24 bytes and a stream of exactly "
            "one message work; a round starts only within the budget, the first always; the "
            "ratio is this/pipe throughput (median over rounds)") {
  namespace lab = ipclab::lab19;
  auto o = small_bench(1);
  o.pings = 1;
  o.ping_bytes = 24;
  o.chunk_bytes = 24;
  o.stream_bytes = o.chunk_bytes;
  for (auto tiny : {&lab::BenchOptions::ping_bytes, &lab::BenchOptions::chunk_bytes}) {
    auto t = o;
    t.*tiny = 23;
    t.stream_bytes = t.chunk_bytes;
    EXPECT_THROW(lab::run_bench(t), ipclab::UsageError)
        << "ping_bytes " << t.ping_bytes << ", chunk_bytes " << t.chunk_bytes
        << ": a message shorter than 24 bytes";
  }
  auto late = o;  // a budget already spent when the first round ends: that round only
  late.max_rounds = 3;
  late.budget_s = 0;
  lab::BenchResult once;
  ASSERT_NO_THROW(once = lab::run_bench(late)) << "a budget of 0 s still runs one round";
  EXPECT_EQ(once.rounds, 1) << "max_rounds 3, budget 0 s: no round after the first";
  lab::BenchResult r;
  ASSERT_NO_THROW(r = lab::run_bench(o))
      << "max_rounds 1, pings 1 and a stream of one 24-byte message can work";
  EXPECT_EQ(r.rounds, 1);
  ASSERT_EQ(r.rows.size(), 3u);
  for (const auto& row : r.rows) {
    EXPECT_EQ(row.verified, 2u) << row.name << ": 1 ping and 1 stream message";
    EXPECT_GT(row.mb_per_s, 0.0) << row.name;
    EXPECT_EQ(row.mb_min, row.mb_per_s) << row.name << ": one round, no spread";
    EXPECT_EQ(row.mb_max, row.mb_per_s) << row.name << ": one round, no spread";
    // One round: the median of one ratio is that round's this/pipe throughput.
    EXPECT_NEAR(row.ratio_vs_pipe, row.mb_per_s / r.rows[0].mb_per_s, 1e-9 * row.ratio_vs_pipe)
        << row.name;
  }
  EXPECT_EQ(r.rows[0].ratio_vs_pipe, 1.0) << "the pipe against itself";
}

GRADED_TEST(Demo, BenchDamageEndsItWithTheChildReaped, 1,
            "README §Bench — a damaged message ends run_bench with `verification failed`, "
            "after it has killed and reaped the session's child") {
  namespace lab = ipclab::lab19;
  lab::BenchOptions o = small_bench(1);
  for (const std::int64_t n : {std::int64_t{5}, std::int64_t{12}}) {  // a ping, a stream message
    o.corrupt = n;
    grader::Child bench(
        [&] {
          try {
            (void)lab::run_bench(o);
            ADD_FAILURE() << "run_bench with message " << n << " damaged did not throw";
          } catch (const ipclab::OperationFailed& e) {
            EXPECT_NE(std::string(e.what()).find("verification failed"), std::string::npos)
                << e.what();
            if (n == 5) {  // the parent checks each echo: it knows which ping came back damaged
              EXPECT_NE(std::string(e.what()).find("ping 5"), std::string::npos)
                  << "a damaged ping is reported by its number, as soon as its echo is back: "
                  << e.what();
            }
          }
          siginfo_t info{};
          const int rc = ::waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT);
          EXPECT_TRUE(rc < 0 && errno == ECHILD)
              << "run_bench threw with a child of its still there (pid " << info.si_pid
              << "): kill and reap the session's child before reporting";
        },
        "run_bench with a damaged message");
    const auto r = bench.finish(30'000ms);
    EXPECT_TRUE(r.passed()) << "message " << n << " damaged: " << r.describe();
  }
}

GRADED_TEST(FdPass, ProgramPassesDescriptor, 3,
            "README §Pitfalls 11 — the child reads through the descriptor it received") {
  const std::string file = grader::scratch() + "/passed.txt";
  std::string content;
  for (int i = 0; i < 500; ++i) content += fmt::format("line {} of the passed file\n", i);
  std::ofstream(file) << content;
  auto r = run({"fdpass", file});
  expect_output(r, content);
  expect_exit(r, 0);
  expect_usage_error({"fdpass"});
}

GRADED_TEST(FdPass, SpecialFilesRefusedMissingFileExit3, 2,
            "README §Program — fdpass passes regular files; a missing one is exit 3") {
  const std::string fifo = grader::scratch() + "/fifo";
  ipclab::check_unix(::mkfifo(fifo.c_str(), 0600), "mkfifo {}", fifo);
  for (const std::string& special : {fifo, std::string("/dev/zero")}) {
    auto r = run({"fdpass", special}, {.timeout = 5'000ms});
    grader::expect_finished(r);  // neither an open that waits for a writer nor an endless read
    expect_exit(r, 2);
    EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << r.describe();
  }
  auto missing = run({"fdpass", grader::scratch() + "/no_such_file"});
  expect_exit(missing, 3);
  EXPECT_NE(missing.err.find("No such file"), std::string::npos) << missing.describe();
}

GRADED_TEST(Usage, BadArgumentsExit2, 2, "README §Program — bad input is exit 2") {
  expect_usage_error({"chat_server", "--allow-uid", "abc"});
  expect_usage_error({"chat_server", "--allow-uid", "-1"});
  expect_usage_error({"chat_server", "--socket", ""});
  expect_usage_error({"chat_server", "--socket", grader::rundir() + "/" + std::string(120, 's')});
  expect_usage_error({"chat_server", "--max-pending", "10"});
  expect_usage_error({"chat_client", "--timeout", "0"});
  expect_usage_error({"chat_client", "--name", "two words"});
  expect_usage_error({"chat_client", "--socket", ""});
}

GRADED_TEST(Usage, MissingSocketDirectoryIsExit3, 1,
            "README §Program — a missing directory is a system error, exit 3") {
  auto r = run({"chat_server", "--socket", grader::scratch() + "/no/such/dir/chat.sock"},
               {.timeout = 5'000ms});
  expect_exit(r, 3);
  EXPECT_NE(r.err.find("No such file"), std::string::npos) << r.describe();
}
