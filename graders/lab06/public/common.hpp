// Shared by lab 06's public and hidden tests: running ipc_benchmark with tiny sizes, and
// small strict parsers for its CSV and JSON output (the output must parse back).
#pragma once

#include <cctype>     // std::isdigit
#include <cstdlib>    // std::strtod
#include <map>        // std::map
#include <memory>     // std::shared_ptr
#include <stdexcept>  // std::runtime_error
#include <string>     // std::string
#include <vector>     // std::vector

#include "grader/grader.hpp"
#include "ipclab/inventory.hpp"  // inventory, describe
#include "ipclab/io.hpp"         // read_file

using namespace std::chrono_literals;

namespace lab06_test {

inline const std::vector<std::string> kMechanisms = {"pipe",     "fifo",    "uds",
                                                     "posix_mq", "sysv_mq", "shm_sem"};

/// ipc_benchmark with small counts; its own stall timeout (5 s) fires before the grader's
/// deadline, so a hanging transport is reported by the program, not killed blind.
inline std::vector<std::string> tiny(const std::string& mechanisms, const std::string& format,
                                     std::size_t msg_size = 1024) {
  return {"ipc_benchmark",
          "--mechanisms=" + mechanisms,
          "--msg-size=" + std::to_string(msg_size),
          "--iterations=200",
          "--round-trips=50",
          "--warmup=5",
          "--runs=1",
          "--timeout=5",
          "--format=" + format};
}

inline grader::RunOptions slow_ok() {
  grader::RunOptions o;
  o.timeout = 30'000ms;
  return o;
}

/// A number from a /proc/sys file (-1 if unreadable).
inline long proc_number(const std::string& file) {
  const std::string s = ipclab::read_file(file);
  return s.empty() ? -1 : std::atol(s.c_str());
}

/// What this test's namespace holds right now, one object a line ("" = nothing).
inline std::string objects_now() {
  std::string out;
  for (const auto& o : ipclab::inventory(grader::ns(), grader::rundir()))
    out += ipclab::describe(o) + "\n";
  return out;
}

// ---- CSV (RFC 4180: quoted fields may hold commas, "" is a quote) ------------------------

inline std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false, any = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c == '"') {
      if (!field.empty()) throw std::runtime_error("CSV: a quote inside an unquoted field");
      quoted = true;
    } else if (c == ',') {
      row.push_back(field);
      field.clear();
    } else if (c == '\n') {
      row.push_back(field);
      rows.push_back(row);
      row.clear();
      field.clear();
    } else if (c == '\r') {
      throw std::runtime_error("CSV: carriage return (lines end in \\n)");
    } else {
      field += c;
    }
    any = true;
  }
  if (quoted) throw std::runtime_error("CSV: unterminated quoted field");
  if (any && (!field.empty() || !row.empty()))
    throw std::runtime_error("CSV: the last line has no newline");
  return rows;
}

/// The whole string is a finite decimal number (what a CSV/JSON consumer would accept).
inline bool is_number(const std::string& s, double* out = nullptr) {
  if (s.empty()) return false;
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || !std::isfinite(v)) return false;
  if (out) *out = v;
  return true;
}

// ---- JSON (RFC 8259, strict: no trailing commas, no NaN) ----------------------------------

struct Json {
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject } type = Type::kNull;
  bool boolean = false;
  double number = 0;
  std::string string;
  std::vector<Json> array;
  std::vector<std::pair<std::string, Json>> object;  // in order; duplicates rejected
  const Json* get(const std::string& key) const {
    for (const auto& [k, v] : object)
      if (k == key) return &v;
    return nullptr;
  }
};

class JsonParser {
 public:
  explicit JsonParser(const std::string& text) : s_(text) {}
  Json parse() {
    Json v = value();
    ws();
    if (i_ != s_.size()) fail("text after the value");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw std::runtime_error(fmt::format("JSON: {} at offset {}: ...{}...", what, i_,
                                         s_.substr(i_ > 20 ? i_ - 20 : 0, 40)));
  }
  void ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\t' || s_[i_] == '\r'))
      ++i_;
  }
  bool eat(char c) {
    ws();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  void expect(char c) {
    if (!eat(c)) fail(fmt::format("expected '{}'", c));
  }
  Json value() {
    ws();
    if (i_ >= s_.size()) fail("unexpected end");
    Json v;
    const char c = s_[i_];
    if (c == '{') {
      ++i_;
      v.type = Json::Type::kObject;
      if (eat('}')) return v;
      do {
        ws();
        std::string key = str();
        if (v.get(key)) fail("duplicate key \"" + key + "\"");
        expect(':');
        v.object.emplace_back(key, value());
      } while (eat(','));
      expect('}');
    } else if (c == '[') {
      ++i_;
      v.type = Json::Type::kArray;
      if (eat(']')) return v;
      do v.array.push_back(value());
      while (eat(','));
      expect(']');
    } else if (c == '"') {
      v.type = Json::Type::kString;
      v.string = str();
    } else if (s_.compare(i_, 4, "true") == 0 || s_.compare(i_, 5, "false") == 0) {
      v.type = Json::Type::kBool;
      v.boolean = s_[i_] == 't';
      i_ += v.boolean ? 4 : 5;
    } else if (s_.compare(i_, 4, "null") == 0) {
      i_ += 4;
    } else {
      v.type = Json::Type::kNumber;
      v.number = num();
    }
    return v;
  }
  std::string str() {
    if (i_ >= s_.size() || s_[i_] != '"') fail("expected a string");
    ++i_;
    std::string out;
    while (i_ < s_.size() && s_[i_] != '"') {
      char c = s_[i_++];
      if (static_cast<unsigned char>(c) < 0x20) fail("control character in a string");
      if (c == '\\') {
        if (i_ >= s_.size()) fail("unterminated escape");
        const char e = s_[i_++];
        switch (e) {
          case '"':
          case '\\':
          case '/':
            out += e;
            break;
          case 'n':
            out += '\n';
            break;
          case 't':
            out += '\t';
            break;
          case 'r':
            out += '\r';
            break;
          case 'b':
            out += '\b';
            break;
          case 'f':
            out += '\f';
            break;
          case 'u':
            if (i_ + 4 > s_.size()) fail("short \\u escape");
            out += '?';
            i_ += 4;
            break;
          default:
            fail("bad escape");
        }
      } else {
        out += c;
      }
    }
    if (i_ >= s_.size()) fail("unterminated string");
    ++i_;
    return out;
  }
  double num() {
    const std::size_t start = i_;
    if (s_[i_] == '-') ++i_;
    if (i_ >= s_.size() || !std::isdigit(static_cast<unsigned char>(s_[i_]))) fail("bad number");
    if (s_[i_] == '0' && i_ + 1 < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_ + 1])))
      fail("leading zero");
    while (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_]))) ++i_;
    if (i_ < s_.size() && s_[i_] == '.') {
      ++i_;
      if (i_ >= s_.size() || !std::isdigit(static_cast<unsigned char>(s_[i_])))
        fail("bad fraction");
      while (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_]))) ++i_;
    }
    if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
      ++i_;
      if (i_ < s_.size() && (s_[i_] == '+' || s_[i_] == '-')) ++i_;
      if (i_ >= s_.size() || !std::isdigit(static_cast<unsigned char>(s_[i_])))
        fail("bad exponent");
      while (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_]))) ++i_;
    }
    return std::strtod(s_.substr(start, i_ - start).c_str(), nullptr);
  }

  const std::string& s_;
  std::size_t i_ = 0;
};

inline Json parse_json(const std::string& text) { return JsonParser(text).parse(); }

/// The CSV data rows of a run, by mechanism name; fails the test if it does not parse or
/// the header is not the documented one.
inline std::map<std::string, std::vector<std::string>> csv_rows(const grader::RunResult& r,
                                                                std::vector<std::string>* header) {
  std::map<std::string, std::vector<std::string>> out;
  std::vector<std::vector<std::string>> rows;
  try {
    rows = parse_csv(r.out);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "the CSV output does not parse: " << e.what() << "\n" << r.describe();
    return out;
  }
  if (rows.empty()) {
    ADD_FAILURE() << "no CSV output\n" << r.describe();
    return out;
  }
  if (header) *header = rows[0];
  for (std::size_t i = 1; i < rows.size(); ++i) {
    if (rows[i].size() != rows[0].size()) {
      ADD_FAILURE() << "CSV row " << i << " has " << rows[i].size() << " fields, the header "
                    << rows[0].size() << "\n"
                    << r.describe();
      continue;
    }
    out[rows[i][0]] = rows[i];
  }
  return out;
}

}  // namespace lab06_test
