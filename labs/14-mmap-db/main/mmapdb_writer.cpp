// mmapdb_writer FILE --prefix P --count N [--start S] [--batch B] [--value-size V] [--quiet]
// — the grader's writer: inserts keys P<i> (i = S .. S+N-1, zero-padded to 8 digits) with
// test_value(key) as the value, B inserts a transaction, and after each commit prints
// `ok <i>` for the last key it committed (unless --quiet), flushed, so that a test that
// kills it knows which inserts returned.
#include <cstdint>  // std::uint64_t
#include <cstdio>   // stdout, std::fflush
#include <string>   // std::string

#include "ipclab/main.hpp"  // run_main, CLI11
#include "lab14/mmapdb.hpp"

// run_main maps every exception to an exit code; only setting up the parser precedes it.
int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape)
  CLI::App app{"mmapdb_writer: insert test keys into an mmapdb file (for the grader)"};
  std::string file, prefix = "k";
  std::uint64_t start = 0, count = 0, batch = 1;
  std::size_t value_size = 100;
  bool quiet = false, sync = false;
  app.add_option("file", file)->required();
  app.add_option("--prefix", prefix, "key prefix (default k)");
  app.add_option("--start", start, "first index (default 0)")
      ->transform(ipclab::cli::count(0, 1'000'000'000'000));
  app.add_option("--count", count, "how many keys")
      ->required()
      ->transform(ipclab::cli::count(0, 1'000'000'000'000));
  app.add_option("--batch", batch, "inserts a transaction (default 1)")
      ->transform(ipclab::cli::count(1, std::uint64_t{1} << 30));
  app.add_option("--value-size", value_size, "value bytes (default 100)")
      ->transform(ipclab::cli::size(0, ipclab::lab14::kMaxValue));
  app.add_flag("--quiet", quiet, "print only `done <count>` at the end");
  app.add_flag("--sync", sync, "msync at every commit (default: no msync)");

  return ipclab::run_main(app, argc, argv, [&] {
    auto db = ipclab::lab14::Db::open(file, {.sync = sync});
    for (std::uint64_t i = start; i < start + count;) {
      db.begin();
      const std::uint64_t end = std::min(start + count, i + batch);
      for (; i < end; ++i) {
        const std::string key = fmt::format("{}{:08}", prefix, i);
        db.put(key, ipclab::lab14::test_value(key, value_size));
      }
      db.commit();
      if (!quiet) {
        fmt::print("ok {}\n", i - 1);
        (void)std::fflush(stdout);
      }
    }
    fmt::print("done {}\n", count);
    return 0;
  });
}
