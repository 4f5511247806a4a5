// Lab 01: splitting a command string into words. Read the contract in
// include/lab01/pipeline.hpp (split_words) and the README's "Words" section.
#include "ipclab/error.hpp"  // ipclab::UsageError, ipclab::NotImplemented
#include "lab01/pipeline.hpp"

namespace ipclab::lab01 {

std::vector<std::string> split_words([[maybe_unused]] std::string_view line) {
  // TODO(lab01): walk the line one character at a time, building the current word.
  //  - a blank ends the current word (if one has begun);
  //  - '...' appends everything up to the next ' literally;
  //  - "..." appends up to the next ", where \" \\ \$ \` stand for the second character;
  //  - outside quotes, \x appends x;
  //  - remember that '' begins a word even though it adds no character.
  // Throw ipclab::UsageError for an unterminated quote or a trailing backslash.
  throw NotImplemented("TODO(lab01): implement split_words() in src/parse.cpp");
}

}  // namespace ipclab::lab01
