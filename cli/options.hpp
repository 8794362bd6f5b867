#pragma once
// What every subcommand does with a command-line mistake: one line on stderr naming the option,
// exit status 2.

#include <cxxopts.hpp>
#include <string>
#include <string_view>

namespace relaysim::cli {

// The message for a cxxopts error, with the option named when cxxopts leaves it out: a value
// that does not parse ("Argument 'abc' failed to parse") becomes "--seed: 'abc' is not a valid
// value".
std::string describe_option_error(const cxxopts::exceptions::exception& error, int argc, char** argv);

// Edits (insertions, deletions, substitutions) that turn one word into the other: for "did you mean".
std::size_t edit_distance(std::string_view a, std::string_view b);

// Prints "relaysim COMMAND: <message>" on stderr and returns 2. An unknown option is answered
// with the command's closest one, when one is close: "Option 'sumary' does not exist; did you
// mean --summary?".
int option_error(std::string_view command, const cxxopts::exceptions::exception& error, int argc, char** argv);

}  // namespace relaysim::cli
