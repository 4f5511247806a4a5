// Lab 01 reference: splitting a command string into words (see pipeline.hpp).
#include <fmt/core.h>  // fmt::format

#include "ipclab/error.hpp"  // ipclab::UsageError
#include "lab01/pipeline.hpp"

namespace ipclab::lab01 {

std::vector<std::string> split_words(std::string_view line) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;  // true once the current word has begun (even if it is still empty: "")
  std::size_t i = 0;
  while (i < line.size()) {
    const char c = line[i];
    if (c == ' ' || c == '\t' || c == '\n') {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
      ++i;
    } else if (c == '\'') {
      const auto end = line.find('\'', i + 1);
      if (end == std::string_view::npos)
        throw UsageError(fmt::format("unterminated ' in command: {}", line));
      word.append(line.substr(i + 1, end - i - 1));
      in_word = true;
      i = end + 1;
    } else if (c == '"') {
      std::size_t j = i + 1;
      for (;; ++j) {
        if (j >= line.size()) throw UsageError(fmt::format("unterminated \" in command: {}", line));
        if (line[j] == '"') break;
        if (line[j] == '\\' && j + 1 < line.size() &&
            (line[j + 1] == '"' || line[j + 1] == '\\' || line[j + 1] == '$' || line[j + 1] == '`'))
          ++j;  // the backslash escapes the next character: keep only that character
        word += line[j];
      }
      in_word = true;
      i = j + 1;
    } else if (c == '\\') {
      if (i + 1 >= line.size()) throw UsageError(fmt::format("trailing \\ in command: {}", line));
      word += line[i + 1];
      in_word = true;
      i += 2;
    } else {
      word += c;
      in_word = true;
      ++i;
    }
  }
  if (in_word) words.push_back(std::move(word));
  return words;
}

}  // namespace ipclab::lab01
