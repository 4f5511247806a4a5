// Lab 10 public grader: the pool's contract seen from outside — the seed transcript, a
// full pool, timeouts that leave the count alone, 50 workers through 5 slots, a worker
// killed with SIGKILL while holding, a blocked worker that sleeps, and a clean shutdown.
#include <signal.h>    // SIGKILL, SIGTERM
#include <sys/wait.h>  // waitpid
#include <unistd.h>    // fork, getpid

#include "common.hpp"
#include "ipclab/error.hpp"          // UsageError, SysError
#include "ipclab/instance_lock.hpp"  // InstanceLock::path_of
#include "ipclab/sem.hpp"            // NamedSemaphore
#include "ipclab/shm.hpp"            // PosixShm

#include "ipclab/process.hpp"  // process_state

GRADER_LAB("lab10", "POSIX semaphore connection pool");

using grader::expect_exit;
using grader::expect_output;
using grader::run;
using lab10_test::acquired_line;
using lab10_test::kForever;
using lab10_test::ok_timeout;
using lab10_test::released_line;
using lab10_test::start_manager;
using lab10_test::start_worker;
using lab10_test::stop_manager;
using lab10_test::View;
namespace lab = ipclab::lab10;

// ---- the API in-process -----------------------------------------------------------------

GRADED_TEST(Api, CreateOpenRemove, 3,
            "README §Pitfalls 8 — create exclusively, remove both names") {
  EXPECT_THROW(lab::Pool::create(0), ipclab::UsageError);
  EXPECT_THROW(lab::Pool::create(lab::kMaxConnections + 1), ipclab::UsageError);
  EXPECT_FALSE(lab10_test::pool_objects_exist()) << "a rejected create() left objects behind";
  {
    auto pool = lab::Pool::create(lab::kMaxConnections);  // the largest size is valid
    auto view = View::open();
    ASSERT_TRUE(view);
    EXPECT_EQ(view->sem_value(), static_cast<int>(lab::kMaxConnections))
        << "a pool of kMaxConnections must be created with that many free connections";
  }
  EXPECT_TRUE(lab::Pool::remove());
  {
    auto pool = lab::Pool::create(3);
    EXPECT_TRUE(lab10_test::exists(lab10_test::sem_file())) << lab10_test::sem_file();
    EXPECT_TRUE(lab10_test::exists(lab10_test::shm_file())) << lab10_test::shm_file();
    auto view = View::open();
    ASSERT_TRUE(view);
    EXPECT_EQ(view->sem_value(), 3) << "a new pool of 3 has 3 free connections";
    EXPECT_EQ(view->h().max_connections, 3U);
    EXPECT_EQ(view->h().magic.load(), lab::kPoolMagic);
    EXPECT_TRUE(view->owners().empty()) << view->describe();
    try {
      (void)lab::Pool::create(3);
      ADD_FAILURE() << "a second create() of an existing pool must fail with EEXIST";
    } catch (const ipclab::SysError& e) {
      EXPECT_EQ(e.code(), std::errc::file_exists) << e.what();
    }
    auto other = lab::Pool::open();
    EXPECT_EQ(other.max_connections(), 3U);
    EXPECT_EQ(other.available(), 3);
  }
  EXPECT_TRUE(lab::Pool::remove());
  EXPECT_FALSE(lab10_test::pool_objects_exist()) << "remove() must unlink both names";
  EXPECT_FALSE(lab::Pool::remove()) << "remove() of no pool returns false";
  try {
    (void)lab::Pool::open();
    ADD_FAILURE() << "open() with no pool must throw SysError (ENOENT)";
  } catch (const ipclab::SysError& e) {
    EXPECT_EQ(e.code(), std::errc::no_such_file_or_directory) << e.what();
  }
}

GRADED_TEST(
    Api, RemoveWithOnlyOneNameLeft, 2,
    "README §Pitfalls 8 — a half-made or half-removed pool: remove() unlinks what is there") {
  // A create() that failed halfway, or a crash between the two unlinks, leaves one name.
  (void)ipclab::NamedSemaphore::create(lab::sem_name(), 1);
  EXPECT_THROW((void)lab::Pool::create(2), ipclab::SysError) << "a stale semaphore: EEXIST";
  EXPECT_FALSE(lab10_test::exists(lab10_test::shm_file()))
      << "create() failed on the semaphore: the shm object it made first must be unlinked";
  EXPECT_TRUE(lab::Pool::remove()) << "only the semaphore existed: remove() must return true";
  EXPECT_FALSE(lab10_test::pool_objects_exist()) << "remove() left the semaphore";
  (void)ipclab::PosixShm::create(lab::shm_name(), sizeof(lab::PoolHeader));
  EXPECT_TRUE(lab::Pool::remove()) << "only the shm object existed: remove() must return true";
  EXPECT_FALSE(lab10_test::pool_objects_exist()) << "remove() left the shm object";
}

GRADED_TEST(Api, ProcessAliveRefusesNonPids, 1,
            "README §Pitfalls 7 — kill(0, 0) and kill(-1, 0) signal groups, not one process") {
  EXPECT_FALSE(lab::Pool::process_alive(0)) << "pid 0 is no process (kill(0, 0) is our group)";
  EXPECT_FALSE(lab::Pool::process_alive(-1)) << "pid -1 is no process";
  EXPECT_TRUE(lab::Pool::process_alive(::getpid())) << "the test itself is alive";
  EXPECT_TRUE(lab::Pool::process_alive(1)) << "pid 1 (init) is alive, whoever owns it";
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ASSERT_GT(child, 0);
  EXPECT_TRUE(grader::wait_until([&] { return !lab::Pool::process_alive(child); }))
      << "a child that exited (a zombie until reaped) is not alive";
  int status = 0;
  ::waitpid(child, &status, 0);
  EXPECT_FALSE(lab::Pool::process_alive(child)) << "a reaped child is not alive";
}

GRADED_TEST(Api, NoFreeSlotThrowsAndGivesTheUnitBack, 1,
            "README §Pitfalls 3 — post exactly once per unit taken, on an error path too") {
  // A table that contradicts the semaphore (every slot taken, the count says 2 free): the
  // grader writes it with its own mapping. acquire() must say so, and give back the unit
  // its sem_timedwait took.
  auto pool = lab::Pool::create(2);
  auto view = View::open();
  ASSERT_TRUE(view);
  for (unsigned i = 0; i < 2; ++i) view->h().slots[i].owner.store(::getpid());
  EXPECT_THROW((void)pool.acquire(::getpid(), 1, ipclab::Deadline(grader::scaled(5'000ms))),
               std::logic_error)
      << "no free slot among the first 2, although the semaphore let us in: " << view->describe();
  EXPECT_EQ(view->sem_value(), 2) << "the unit acquire() took must be posted back before it "
                                     "throws: "
                                  << view->describe();
  EXPECT_EQ(view->owners().size(), 2U)
      << "slots beyond max_connections are not the pool's: " << view->describe();
  for (unsigned i = 0; i < 2; ++i) view->h().slots[i].owner.store(0);
  EXPECT_TRUE(lab::Pool::remove());
}

GRADED_TEST(Api, ReclaimLooksOnlyAtThePoolsSlots, 1,
            "README §The API you implement — reclaim_dead() scans the first n slots only") {
  // A dead pid in the table's slot n, beyond a pool of n: not the pool's, so no reclaim,
  // no post. (The grader writes it with its own mapping.)
  constexpr unsigned kN = 2;
  auto pool = lab::Pool::create(kN);
  auto view = View::open();
  ASSERT_TRUE(view);
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ASSERT_GT(child, 0);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);  // reaped: its pid names no process
  view->h().slots[kN].owner.store(child);
  EXPECT_TRUE(pool.reclaim_dead().empty())
      << "slot " << kN << " is beyond max_connections " << kN << ": " << view->describe();
  EXPECT_EQ(view->sem_value(), static_cast<int>(kN)) << view->describe();
  EXPECT_EQ(view->h().reclaimed.load(), 0U) << view->describe();
  EXPECT_EQ(view->h().holders.load(), 0) << view->describe();
  EXPECT_EQ(view->h().slots[kN].owner.load(), child) << "a slot beyond the pool was touched";
  view->h().slots[kN].owner.store(0);
  EXPECT_TRUE(lab::Pool::remove());
}

GRADED_TEST(Api, ReleaseOnlyWhatIsHeld, 1,
            "README §The API you implement — release() of a slot its pid does not hold, or "
            "of a slot beyond the pool, throws and changes nothing") {
  // The table has kMaxConnections slots; a pool of n uses the first n. Slot n exists in
  // the table but is not the pool's: releasing it must throw, whatever it holds (free,
  // owner 0, or this process's pid, written with the grader's mapping). Nor does pid 0
  // (no process) hold a free slot of the pool, nor another pid a slot that is ours.
  constexpr unsigned kN = 2;
  auto pool = lab::Pool::create(kN);
  auto view = View::open();
  ASSERT_TRUE(view);
  const pid_t me = ::getpid();
  auto expect_refused = [&](unsigned slot, pid_t owner, const char* why) {
    const pid_t was = view->owner(slot);
    const int value = view->sem_value();
    const int holders = view->h().holders.load();
    EXPECT_THROW(pool.release(slot, owner), std::logic_error)
        << "release(" << slot << ", " << owner << ") in a pool of " << kN << ": " << why << ": "
        << view->describe();
    EXPECT_EQ(view->sem_value(), value) << "a release that throws must not post: release(" << slot
                                        << ", " << owner << "): " << view->describe();
    EXPECT_EQ(view->h().holders.load(), holders) << view->describe();
    EXPECT_EQ(view->owner(slot), was)
        << "release(" << slot << ", " << owner << ") that throws must leave the slot as it was";
  };
  view->h().slots[kN].owner.store(0);
  expect_refused(kN, 0, "slot 2 is beyond max_connections (and free)");
  view->h().slots[kN].owner.store(me);
  expect_refused(kN, me, "slot 2 is beyond max_connections: no worker was ever given it");
  view->h().slots[kN].owner.store(0);
  expect_refused(0, 0, "slot 0 is free: pid 0 holds nothing");
  const auto slot = pool.acquire(me, 1, ipclab::Deadline(grader::scaled(5'000ms)));
  ASSERT_TRUE(slot) << "a pool of " << kN << " with no holder: acquire() timed out";
  expect_refused(*slot, 1, "the slot is held by the test, not by pid 1");
  EXPECT_NO_THROW(pool.release(*slot, me)) << view->describe();
  EXPECT_EQ(view->sem_value(), static_cast<int>(kN)) << view->describe();
  EXPECT_TRUE(lab::Pool::remove());
}

// ---- programs -----------------------------------------------------------------------------

GRADED_TEST(Pool, SeedTranscript, 3) {
  auto m = start_manager(5);
  if (!m) return;
  auto r = run({"worker", "1", "--hold-ms", "50", "--timeout-ms", ok_timeout()});
  expect_output(r,
                "Worker 1: Acquired connection (4 remaining)\nWorker 1: Released connection (5 "
                "remaining)\n");
  expect_exit(r, 0);
  auto view = View::open();
  ASSERT_TRUE(view);
  EXPECT_EQ(view->sem_value(), 5) << view->describe();
  EXPECT_TRUE(view->owners().empty()) << view->describe();
  EXPECT_EQ(view->h().acquisitions.load(), 1U) << view->describe();
  auto stop = stop_manager(*m);
  expect_exit(stop, 0);
  EXPECT_NE(stop.out.find("high-water 1 of 5"), std::string::npos) << stop.describe();
}

GRADED_TEST(Pool, FullPoolHoldsExactlyN, 5,
            "README §Pitfalls 3 — the semaphore counts free connections") {
  auto m = start_manager(3);
  if (!m) return;
  auto view = View::open();
  ASSERT_TRUE(view);
  std::vector<grader::Process> holders;
  for (unsigned id = 1; id <= 3; ++id) {  // one at a time: "(k remaining)" is exact
    holders.push_back(start_worker(id, kForever, ok_timeout()));
    ASSERT_TRUE(holders.back().wait_for_output(acquired_line(id), 10'000ms))
        << "worker " << id << " of 3 in a pool of 3 did not get in: " << holders.back().out()
        << holders.back().err() << "\n"
        << view->describe();
    EXPECT_NE(holders.back().out().find(fmt::format("({} remaining)", 3 - id)), std::string::npos)
        << holders.back().out();
  }
  EXPECT_EQ(view->sem_value(), 0) << view->describe();
  EXPECT_EQ(view->h().holders.load(), 3) << view->describe();
  EXPECT_EQ(view->h().high_water.load(), 3) << "three held at once: " << view->describe();
  std::set<pid_t> expect_owners, owners;
  for (auto& h : holders) expect_owners.insert(h.pid());
  for (const auto& [slot, pid] : view->owners()) {
    EXPECT_LT(slot, 3U) << view->describe();
    owners.insert(pid);
  }
  EXPECT_EQ(owners, expect_owners) << "the table must name the three holders: " << view->describe();

  auto late = run({"worker", "4", "--hold-ms", "0", "--timeout-ms", "200"});
  expect_output(late, "Worker 4: Waiting for connection...\nWorker 4: timed out\n");
  expect_exit(late, 1);
  EXPECT_LE(view->h().high_water.load(), 3) << view->describe();

  for (auto& h : holders) h.signal(SIGTERM);  // ends the hold early: released normally
  for (unsigned id = 1; id <= 3; ++id) {
    auto r = holders[id - 1].finish(10'000ms);
    expect_exit(r, 0);
    EXPECT_NE(r.out.find(released_line(id)), std::string::npos) << r.describe();
  }
  EXPECT_EQ(view->sem_value(), 3) << "after every release: " << view->describe();
  EXPECT_TRUE(view->owners().empty()) << view->describe();
  expect_exit(stop_manager(*m), 0);
}

GRADED_TEST(Pool, TimeoutLeavesCountUnchanged, 5,
            "README §Pitfalls 3 — a timed-out wait took nothing; do not post") {
  auto m = start_manager(1);
  if (!m) return;
  auto view = View::open();
  ASSERT_TRUE(view);
  auto holder = start_worker(1, kForever, ok_timeout());
  ASSERT_TRUE(holder.wait_for_output(acquired_line(1), 10'000ms)) << holder.out() << holder.err();
  for (unsigned id = 2; id <= 4; ++id) {
    auto r = run({"worker", std::to_string(id), "--hold-ms", "0", "--timeout-ms", "150"});
    expect_output(
        r, fmt::format("Worker {0}: Waiting for connection...\nWorker {0}: timed out\n", id));
    expect_exit(r, 1);
    EXPECT_EQ(view->sem_value(), 0) << "after worker " << id << " timed out: " << view->describe();
    EXPECT_EQ(view->h().holders.load(), 1) << view->describe();
  }
  holder.signal(SIGTERM);
  expect_exit(holder.finish(10'000ms), 0);
  EXPECT_EQ(view->sem_value(), 1) << "after the holder released: " << view->describe();
  auto next = run({"worker", "5", "--hold-ms", "0", "--timeout-ms", ok_timeout()});
  expect_output(next,
                "Worker 5: Acquired connection (0 remaining)\nWorker 5: Released connection (1 "
                "remaining)\n");
  EXPECT_EQ(view->h().high_water.load(), 1) << view->describe();
  expect_exit(stop_manager(*m), 0);
}

GRADED_TEST(Pool, FiftyWorkersAllComplete, 6,
            "README §Pitfalls 2 — claim a slot atomically; §Pitfalls 4 — free before post") {
  auto m = start_manager(5);
  if (!m) return;
  EXPECT_TRUE(lab10_test::run_crowd(5, 50, 15, true, grader::seed()));
  auto view = View::open();
  ASSERT_TRUE(view);
  EXPECT_EQ(view->h().acquisitions.load(), 50U) << view->describe();
  auto stop = stop_manager(*m);
  expect_exit(stop, 0);
  EXPECT_NE(stop.out.find("high-water"), std::string::npos) << stop.describe();
}

GRADED_TEST(Crash, KilledHolderSlotReclaimed, 8,
            "README §Pitfalls 5 — reclaim dead owners and post once per reclaimed slot") {
  auto m = start_manager(2);
  if (!m) return;
  auto view = View::open();
  ASSERT_TRUE(view);
  auto a = start_worker(1, kForever, ok_timeout());
  ASSERT_TRUE(a.wait_for_output(acquired_line(1), 10'000ms)) << a.out() << a.err();
  auto b = start_worker(2, kForever, ok_timeout());
  ASSERT_TRUE(b.wait_for_output(acquired_line(2), 10'000ms)) << b.out() << b.err();
  auto c = start_worker(3, "0", ok_timeout());  // waits on the full pool
  ASSERT_TRUE(grader::wait_until([&] { return ipclab::process_state(c.pid()) == 'S'; }, 5'000ms));
  EXPECT_EQ(c.out().find(acquired_line(3)), std::string::npos)
      << "worker 3 got into a full pool: " << view->describe();
  const pid_t dead = a.pid();
  a.kill();  // SIGKILL while holding, and reaped
  // pool_manager looks every ~100 ms and promises 1 s; 3 s (scaled) absorbs a loaded host.
  EXPECT_TRUE(grader::wait_until([&] { return !view->holds(dead); }, 3'000ms))
      << "the slot of SIGKILLed worker 1 (pid " << dead
      << ") was not reclaimed: " << view->describe();
  ASSERT_TRUE(c.wait_for_output(acquired_line(3), 3'000ms))
      << "worker 3, waiting on the full pool, did not get the reclaimed connection: "
      << view->describe() << "\nworker 3: " << c.out() << c.err();
  auto rc = c.finish(10'000ms);
  expect_exit(rc, 0);
  EXPECT_TRUE(m->wait_for_output("reclaimed slot", 1'000ms)) << m->out();
  // The second holder dies too: the count must come back to 2 with nobody left to post.
  const pid_t dead2 = b.pid();
  b.kill();
  EXPECT_TRUE(
      grader::wait_until([&] { return view->sem_value() == 2 && !view->holds(dead2); }, 3'000ms))
      << "after both holders died and worker 3 released, the count must be 2: " << view->describe();
  EXPECT_EQ(view->h().holders.load(), 0) << view->describe();
  EXPECT_EQ(view->h().reclaimed.load(), 2U) << view->describe();
  expect_exit(stop_manager(*m), 0);
}

GRADED_TEST(Blocking, WaitingWorkerUsesNoCpu, 4,
            "README §Pitfalls 1 — block in sem_timedwait, never poll with sem_trywait") {
  auto m = start_manager(1);
  if (!m) return;
  auto holder = start_worker(1, kForever, ok_timeout());
  ASSERT_TRUE(holder.wait_for_output(acquired_line(1), 10'000ms)) << holder.out() << holder.err();
  auto waiter = start_worker(2, "0", ok_timeout());
  // Once it sleeps in its wait, watch its CPU time for 1.5 s.
  (void)grader::wait_until([&] { return ipclab::process_state(waiter.pid()) == 'S'; }, 5'000ms);
  const double before = grader::cpu_seconds(waiter.pid());
  const bool busy = grader::wait_until(
      [&] { return grader::cpu_seconds(waiter.pid()) - before > 0.15; }, 1'500ms);
  EXPECT_FALSE(busy) << "a worker waiting on a full pool used "
                     << grader::cpu_seconds(waiter.pid()) - before << " s of CPU";
  EXPECT_FALSE(waiter.exited()) << "the waiter must still be waiting: " << waiter.out()
                                << waiter.err();
  holder.signal(SIGTERM);
  EXPECT_TRUE(waiter.wait_for_output(acquired_line(2), 5'000ms)) << waiter.out() << waiter.err();
  expect_exit(waiter.finish(10'000ms), 0);
  expect_exit(holder.finish(10'000ms), 0);
  expect_exit(stop_manager(*m), 0);
}

GRADED_TEST(Shutdown, PoolObjectsRemoved, 4,
            "README §Pitfalls 8 — remove both names on SIGINT/SIGTERM") {
  for (const int sig : {SIGTERM, SIGINT}) {
    auto m = start_manager(4);
    if (!m) return;
    EXPECT_TRUE(lab10_test::exists(lab10_test::sem_file())) << lab10_test::sem_file();
    EXPECT_TRUE(lab10_test::exists(lab10_test::shm_file())) << lab10_test::shm_file();
    auto w = run({"worker", "7", "--hold-ms", "0", "--timeout-ms", ok_timeout()});
    expect_exit(w, 0);
    m->signal(sig);
    auto stop = m->finish(10'000ms);
    expect_exit(stop, 0);
    EXPECT_NE(stop.out.find("high-water 1 of 4"), std::string::npos)
        << "the shutdown line reports the high-water mark: " << stop.describe();
    EXPECT_FALSE(lab10_test::pool_objects_exist())
        << "after pool_manager exits on signal " << sig << ": " << lab10_test::sem_file() << " or "
        << lab10_test::shm_file() << " is still there";
  }
  auto w = run({"worker", "8", "--timeout-ms", "1000"});
  expect_exit(w, 3);
  EXPECT_NE(w.err.find("error: "), std::string::npos) << w.describe();
}

GRADED_TEST(Errors, NoPoolAndBadArguments, 2) {
  auto w = run({"worker", "1", "--timeout-ms", "1000"});
  expect_exit(w, 3);
  EXPECT_NE(w.err.find("error: "), std::string::npos) << w.describe();
  EXPECT_NE(w.err.find("no pool"), std::string::npos)
      << "open() with no pool must throw SysError (ENOENT): " << w.describe();
  expect_exit(run({"pool_manager", "--stats"}), 3);
  expect_exit(run({"worker"}), 2);
  expect_exit(run({"worker", "1", "--timeout-ms", "-5"}), 2);
  expect_exit(run({"pool_manager", "--max-connections=0"}), 2);
  expect_exit(run({"pool_manager", "--max-connections=65"}), 2);
  auto m = start_manager(2);
  if (!m) return;
  auto second = run({"pool_manager", "--max-connections=2"});
  expect_exit(second, 1);  // already running: exit 1 everywhere
  EXPECT_NE(second.err.find("error: "), std::string::npos) << second.describe();
  auto stats = run({"pool_manager", "--stats"});
  expect_exit(stats, 0);
  EXPECT_NE(stats.out.find("2 connections, 2 available"), std::string::npos) << stats.describe();
  expect_exit(stop_manager(*m), 0);
}

GRADED_TEST(Shutdown, UnlinkRemovesStalePool, 2) {
  auto m = start_manager(2);
  if (!m) return;
  m->kill();  // SIGKILL: no chance to clean up
  EXPECT_TRUE(lab10_test::pool_objects_exist());
  auto u = run({"pool_manager", "--unlink"});
  expect_exit(u, 0);
  EXPECT_FALSE(lab10_test::pool_objects_exist()) << u.describe();
  auto again = start_manager(2);
  if (!again) return;
  expect_exit(stop_manager(*again), 0);
}

// ---- one live manager -------------------------------------------------------------------

GRADED_TEST(Instance, LiveManagerRefusesSecondAndUnlink, 1,
            "README §Pitfalls 8 — one live manager: a second one and --unlink are refused") {
  auto m = start_manager(2);
  if (!m) return;
  EXPECT_TRUE(lab10_test::exists(ipclab::InstanceLock::path_of("pool_manager")))
      << "a serving manager holds <rundir>/pool_manager.lock";
  auto second = run({"pool_manager", "--max-connections=3"});
  expect_exit(second, 1);
  EXPECT_NE(second.err.find("already running"), std::string::npos) << second.describe();
  auto u = run({"pool_manager", "--unlink"});
  expect_exit(u, 1);
  EXPECT_NE(u.err.find("already running"), std::string::npos) << u.describe();
  EXPECT_TRUE(lab10_test::pool_objects_exist()) << "--unlink removed a live manager's pool";
  auto stats = run({"pool_manager", "--stats"});
  EXPECT_NE(stats.out.find("2 connections"), std::string::npos)
      << "the live manager's pool changed\n"
      << stats.describe();
  expect_exit(stop_manager(*m), 0);
  EXPECT_FALSE(lab10_test::pool_objects_exist());
}

GRADED_TEST(Instance, LockFileGoneAfterCleanStop, 1,
            "README §Pitfalls 8 — a clean stop leaves nothing behind, lock file included") {
  for (int sig : {SIGTERM, SIGINT}) {
    auto m = start_manager(2);
    if (!m) return;
    EXPECT_TRUE(lab10_test::exists(ipclab::InstanceLock::path_of("pool_manager")))
        << "a serving manager holds <rundir>/pool_manager.lock";
    m->signal(sig);
    expect_exit(m->finish(10'000ms), 0);
    EXPECT_FALSE(lab10_test::exists(ipclab::InstanceLock::path_of("pool_manager")))
        << "the lock file is still there after signal " << sig;
  }
  // A killed manager leaves a stale lock file; the next one takes it over, and removes it.
  auto k = start_manager(2);
  if (!k) return;
  k->kill();
  expect_exit(run({"pool_manager", "--unlink"}), 0);
  EXPECT_FALSE(lab10_test::exists(ipclab::InstanceLock::path_of("pool_manager")))
      << "--unlink after a killed manager must take over and remove its stale lock file";
}
