// mmapdb bench: random gets and puts through mmapdb, LMDB and SQLite in the same run
// (the method of docs/benchmarking.md). Given; linked only into the mmapdb program, never into the
// lab library.
#pragma once

#include <cstdint>  // std::uint64_t
#include <string>   // std::string

#include "ipclab/bench.hpp"  // bench::Format

namespace ipclab::lab14 {

struct BenchOptions {
  std::string file;  ///< mmapdb's file; LMDB and SQLite use FILE.lmdb and FILE.sqlite
  std::uint64_t keys = 1'000'000;
  int runs = 3;
  bench::Format format = bench::Format::kTable;
  std::uint64_t seed = 1;
};

/// Runs the benchmark, prints the report; returns the exit code (throws on a wrong value).
int run_bench(const BenchOptions& opts);

}  // namespace ipclab::lab14
