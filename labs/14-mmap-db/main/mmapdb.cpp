// mmapdb create FILE [--size=100MB] | insert FILE K V | get FILE K | delete FILE K |
//        list FILE | stats FILE | check FILE | bench FILE [--keys=1M] [--runs N] [--format F]
// — a memory-mapped key-value database in one file, shared by many processes.
#include <unistd.h>  // write, _exit

#include <cstdint>    // std::uint64_t
#include <cstdio>     // stdout
#include <stdexcept>  // std::logic_error
#include <string>     // std::string
#include <thread>     // std::thread: the --timeout watchdog

#include "../given/bench.hpp"  // run_bench
#include "ipclab/clock.hpp"    // sleep_ns
#include "ipclab/main.hpp"     // run_main, CLI11
#include "lab14/mmapdb.hpp"

namespace {

using ipclab::lab14::Db;

// --timeout: the whole command must finish in time, lock waits included. A watchdog thread
// ends the process at the deadline (F_OFD_SETLKW is retried on EINTR, so no SIGALRM); the
// kernel releases our lock when we exit.
void arm_timeout(long ms) {
  if (ms <= 0) return;
  std::thread([ms] {
    ipclab::sleep_ns(ms * 1'000'000);
    constexpr char kMsg[] = "error: timed out (--timeout)\n";
    [[maybe_unused]] const ssize_t n = ::write(2, kMsg, sizeof kMsg - 1);
    ::_exit(ipclab::kExitFailed);
  }).detach();
}

}  // namespace

// run_main maps every exception to an exit code; only setting up the parser precedes it.
int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape)
  using namespace std::chrono_literals;
  CLI::App app{
      "mmapdb: a memory-mapped key-value database in one file, shared by many processes.\n"
      "  mmapdb create db --size=1MB; mmapdb insert db color blue; mmapdb get db color"};
  long timeout_ms = 0;
  bool no_sync = false;
  app.add_option("--timeout", timeout_ms, "give up (exit 1) after MS milliseconds, 0 = never")
      ->transform(ipclab::cli::milliseconds(0ms, 24h));
  app.add_flag("--no-sync", no_sync,
               "commit without msync (survives a killed process, not a power cut)");
  app.require_subcommand(1);

  std::string file, key, value, format_text = "table";
  std::uint64_t size = std::uint64_t{100} << 20, keys = 1'000'000;
  int runs = 3;
  std::uint64_t seed = 1;
  auto* create = app.add_subcommand("create", "create FILE (it must not exist)");
  create->add_option("file", file)->required();
  create->add_option("--size", size, "initial file size (default 100MB; K, M, G = 1024s)")
      ->transform(ipclab::cli::size(ipclab::lab14::kMinSize, ipclab::lab14::kMaxSize));
  auto* insert = app.add_subcommand("insert", "set K to V (insert or replace)");
  insert->add_option("file", file)->required();
  insert->add_option("key", key)->required();
  insert->add_option("value", value)->required();
  auto* get = app.add_subcommand("get", "print the value of K (exit 1 if absent)");
  get->add_option("file", file)->required();
  get->add_option("key", key)->required();
  auto* del = app.add_subcommand("delete", "delete K (exit 1 if absent)");
  del->add_option("file", file)->required();
  del->add_option("key", key)->required();
  auto* list = app.add_subcommand("list", "print every key=value, sorted by key");
  list->add_option("file", file)->required();
  auto* stats = app.add_subcommand("stats", "print counts and sizes");
  stats->add_option("file", file)->required();
  auto* check = app.add_subcommand("check", "verify the whole file (exit 1 if corrupt)");
  check->add_option("file", file)->required();
  auto* bench = app.add_subcommand(
      "bench", "random get and put ops/s against LMDB and SQLite (FILE: where the files go)");
  bench->add_option("file", file)->required();
  bench->add_option("--keys", keys, "keys to load (default 1M; K, M = 1000s)")
      ->transform(ipclab::cli::count(1, 1'000'000'000));
  bench->add_option("--runs", runs, "rounds, contenders interleaved (default 3)")
      ->transform(ipclab::cli::count(1, 100));
  bench->add_option("--format", format_text, "table, csv or json");
  bench->add_option("--seed", seed, "seed of the keys and of the orders")
      ->transform(ipclab::cli::count(0, UINT64_MAX));

  return ipclab::run_main(app, argc, argv, [&] {
    arm_timeout(timeout_ms);
    const ipclab::lab14::OpenOptions opts{.sync = !no_sync};
    if (*create) {
      Db::create(file, size, opts);
      fmt::print("Database created: {} ({})\n", file, ipclab::format_size(size));
    } else if (*insert) {
      ipclab::lab14::check_key(key);
      ipclab::lab14::check_value(value);
      // One transaction, so that the record found is the one just written: its value
      // follows its head and key, in the heap.
      Db db = Db::open(file, opts);
      db.begin();
      db.put(key, value);
      const auto v = db.get(key);
      db.commit();
      if (!v) throw std::logic_error("a key just inserted is not found");
      fmt::print("Inserted at offset {}\n",
                 db.offset_of(v->data()) - sizeof(ipclab::lab14::RecordHead) - key.size());
    } else if (*get) {
      ipclab::lab14::check_key(key);
      Db db = Db::open(file, opts);
      const auto v = db.get(key);
      if (!v) throw ipclab::OperationFailed("key not found");
      fmt::print("{}\n", *v);
    } else if (*del) {
      ipclab::lab14::check_key(key);
      if (!Db::open(file, opts).del(key)) throw ipclab::OperationFailed("key not found");
    } else if (*list) {
      for (const auto& [k, v] : Db::open(file, opts).list()) fmt::print("{}={}\n", k, v);
    } else if (*stats) {
      const auto st = Db::open(file, opts).stats();
      fmt::print("keys: {}\ndeleted: {}\nindex slots: {}\nload: {:.2f}\n", st.keys, st.tombstones,
                 st.slots,
                 static_cast<double>(st.keys + st.tombstones) / static_cast<double>(st.slots));
      fmt::print("heap used: {} bytes\nfile size: {} bytes\ngeneration: {}\n", st.heap_end,
                 st.file_size, st.generation);
    } else if (*check) {
      const auto st = Db::open(file, opts).check();
      fmt::print("ok: {} keys, {} deleted, {} index slots, {} of {} bytes used\n", st.keys,
                 st.tombstones, st.slots, st.heap_end, st.file_size);
    } else if (*bench) {
      ipclab::lab14::BenchOptions b;
      b.file = file;
      b.keys = keys;
      b.runs = runs;
      b.format = ipclab::bench::parse_format(format_text);
      b.seed = seed;
      return ipclab::lab14::run_bench(b);
    }
    return 0;
  });
}
