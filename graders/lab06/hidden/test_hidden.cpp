// Lab 06 hidden grader: odd and random sizes on every mechanism, the transports driven
// directly (both sides sending first, end of file, a creation that fails halfway), and
// Ctrl-C to the whole process group.
#include <fcntl.h>     // O_CREAT
#include <mqueue.h>    // mq_open
#include <signal.h>    // SIGINT
#include <sys/stat.h>  // mkfifo
#include <unistd.h>    // unlink

#include <functional>  // std::function
#include <random>      // std::mt19937_64

#include "../public/common.hpp"
#include "ipclab/error.hpp"    // OperationFailed
#include "ipclab/names.hpp"    // names::posix, names::path
#include "ipclab/process.hpp"  // child_pids
#include "lab06/channel.hpp"
#include "lab06/payload.hpp"

namespace lab = ipclab::lab06;

using grader::expect_exit;
using grader::run;
using lab::Mechanism;
using lab06_test::objects_now;

namespace {

const std::string kAll = "pipe,fifo,uds,posix_mq,sysv_mq,shm_sem";

/// What one side does with its end of the channel; its EXPECT/ASSERT failures and
/// exceptions fail the side.
using SideFn = std::function<void(lab::Channel&)>;

/// Creates the transport here, starts side A and side B in child processes (each opens its
/// end and runs its body), and waits for both, 5 s at most. Returns "" or what went wrong.
std::string run_sides(Mechanism m, std::size_t size, const SideFn& a, const SideFn& b,
                      bool drop_creator_after_fork = false) {
  auto t = lab::make_transport(m, size);
  std::vector<grader::Child> sides;
  sides.emplace_back([&] { a(*t->open(lab::Side::kA)); }, "side A");
  sides.emplace_back([&] { b(*t->open(lab::Side::kB)); }, "side B");
  if (drop_creator_after_fork) t.reset();
  return grader::join(sides, 5'000ms);
}

void send_n(lab::Channel& ch, std::size_t size, std::uint64_t first, int n) {
  std::vector<std::byte> m(size);
  for (int i = 0; i < n; ++i) {
    lab::fill_message(m, first + static_cast<std::uint64_t>(i));
    ch.send(m);
  }
}

void recv_n(lab::Channel& ch, std::size_t size, std::uint64_t first, int n) {
  std::vector<std::byte> m(size);
  for (int i = 0; i < n; ++i) {
    ch.recv(m);
    const auto v = lab::verify_message(m, first + static_cast<std::uint64_t>(i));
    ASSERT_EQ(v, lab::Verdict::kOk) << "message " << first + i << ": " << lab::verdict_text(v)
                                    << " (header says " << lab::message_sequence(m) << ")";
  }
}

}  // namespace

GRADED_TEST(Hidden, OddAndMinimumSizesOnEveryMechanism, 3,
            "README §Pitfalls 1 and 5 — tails and empty bodies") {
  for (std::size_t size : {16u, 1001u, 4097u}) {
    auto r = run(lab06_test::tiny(kAll, "csv", size), lab06_test::slow_ok());
    expect_exit(r, 0);
    EXPECT_EQ(lab06_test::csv_rows(r, nullptr).size(), 6u) << r.describe();
  }
}

GRADED_TEST(Hidden, RandomSizesRepeatedLeaveNothing, 2, "README §Pitfalls 6") {
  grader::repeat(3, [&](int, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    const std::size_t size = 16 + rng() % 8000;
    auto r = run(lab06_test::tiny(kAll, "json", size), lab06_test::slow_ok());
    expect_exit(r, 0);
    EXPECT_EQ(objects_now(), "") << "after a run with --msg-size=" << size;
  });
}

GRADED_TEST(Hidden, BothSidesMaySendFirst, 3,
            "README §Pitfalls 3 — each direction must be its own (mtype, queue, ring)") {
  // Three messages each way in flight at once: a side must never receive its own.
  for (Mechanism m : lab::kAllMechanisms) {
    const std::string why = run_sides(
        m, 1024,
        [](auto& ch) {
          send_n(ch, 1024, 0, 3);
          recv_n(ch, 1024, 100, 3);
        },
        [](auto& ch) {
          send_n(ch, 1024, 100, 3);
          recv_n(ch, 1024, 0, 3);
        });
    EXPECT_EQ(why, "") << lab::mechanism_name(m);
    EXPECT_EQ(objects_now(), "") << lab::mechanism_name(m) << ": left behind";
  }
}

GRADED_TEST(Hidden, StreamEndOfFileIsOperationFailed, 2,
            "README §Pitfalls 4 — an end left open in the wrong process means no EOF") {
  for (Mechanism m : {Mechanism::kPipe, Mechanism::kFifo, Mechanism::kUds}) {
    const std::string why = run_sides(
        m, 512,
        [](auto& ch) {
          ASSERT_NO_FATAL_FAILURE(recv_n(ch, 512, 0, 1));
          std::vector<std::byte> buf(512);
          try {
            ch.recv(buf);
          } catch (const ipclab::OperationFailed&) {
            return;  // end of file, reported as the contract says
          }
          ADD_FAILURE() << "recv returned after the other side exited";
        },
        [](auto& ch) { send_n(ch, 512, 0, 1); },
        /*drop_creator_after_fork=*/m == Mechanism::kPipe);
    EXPECT_EQ(why, "") << lab::mechanism_name(m);
  }
}

GRADED_TEST(Hidden, FailedCreateLeavesNothing, 2,
            "README §Pitfalls 6 — a constructor that throws runs no destructor") {
  using lab::object_name;
  // Each transport can be made and removed when nothing is in its way.
  ASSERT_NO_THROW(lab::make_fifo_transport(64));
  ASSERT_NO_THROW(lab::make_posix_mq_transport(64));
  ASSERT_NO_THROW(lab::make_shm_sem_transport(64));
  ASSERT_EQ(objects_now(), "") << "a transport made and destroyed left objects";
  // Occupy the name a transport creates last, so its constructor fails halfway.
  {
    const std::string ba = ipclab::names::path(object_name("fifo-ba"));
    ASSERT_EQ(::mkfifo(ba.c_str(), 0600), 0);
    EXPECT_ANY_THROW(lab::make_fifo_transport(64));
    ::unlink(ba.c_str());
    EXPECT_EQ(objects_now(), "") << "fifo: a failed constructor left its first FIFO";
  }
  {
    const std::string ba = ipclab::names::posix(object_name("mq-ba"));
    mq_attr attr{};
    attr.mq_maxmsg = 1;
    attr.mq_msgsize = 64;
    const mqd_t q = ::mq_open(ba.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600, &attr);
    ASSERT_NE(q, static_cast<mqd_t>(-1));
    ::mq_close(q);
    EXPECT_ANY_THROW(lab::make_posix_mq_transport(64));
    ::mq_unlink(ba.c_str());
    EXPECT_EQ(objects_now(), "") << "posix_mq: a failed constructor left its first queue";
  }
  {
    const std::string full = ipclab::names::posix(object_name("sem-ba-full"));
    sem_t* s = ::sem_open(full.c_str(), O_CREAT | O_EXCL, 0600, 0);
    ASSERT_NE(s, SEM_FAILED);
    ::sem_close(s);
    EXPECT_ANY_THROW(lab::make_shm_sem_transport(64));
    ::sem_unlink(full.c_str());
    EXPECT_EQ(objects_now(), "") << "shm_sem: a failed constructor left objects";
  }
}

GRADED_TEST(Hidden, CtrlCToTheGroupCleansUp, 2, "README §Pitfalls 6") {
  grader::Process p({"ipc_benchmark", "--mechanisms=shm_sem,sysv_mq,posix_mq",
                     "--iterations=2000000000", "--runs=1", "--warmup=0", "--timeout=30"});
  grader::wait_until(
      [&] {
        return !p.running() || (ipclab::child_pids(p.pid()).size() == 2 && objects_now() != "");
      },
      10'000ms);
  ASSERT_TRUE(p.running()) << "ipc_benchmark ended early:\n" << p.finish().describe();
  ASSERT_TRUE(ipclab::child_pids(p.pid()).size() == 2 && objects_now() != "")
      << "no run in progress after 10 s\n"
      << p.err();
  ::kill(-p.pid(), SIGINT);  // what a terminal does: the whole foreground group
  auto r = p.finish(10'000ms);
  expect_exit(r, 1);
  EXPECT_NE(r.err.find("interrupted"), std::string::npos) << r.describe();
  EXPECT_EQ(objects_now(), "");
}

GRADED_TEST(Hidden, ChecksumIsSeededAndLengthAware, 1, "README §Payload") {
  std::vector<std::byte> zeros(64);
  const auto c = lab::checksum64;
  EXPECT_NE(c(zeros, 1), c(zeros, 2)) << "the seed does not matter";
  EXPECT_NE(c(std::span(zeros).first(16), 0), c(std::span(zeros).first(24), 0))
      << "16 and 24 zero bytes have the same checksum";
  EXPECT_NE(c(std::span(zeros).first(16), 0), c(std::span(zeros).first(17), 0))
      << "a trailing zero byte is not seen";
}
