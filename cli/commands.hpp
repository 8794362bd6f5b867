#pragma once
// The `relaysim` subcommands. Each returns the process exit status: 0 success, 1 a check failed,
// 2 bad input.

#include <string>

namespace relaysim::cli {

int run_command(int argc, char** argv);
int determinism_command(int argc, char** argv);
int queue_command(int argc, char** argv);
int validate_command(int argc, char** argv);
int explain_command(int argc, char** argv);
int explore_command(int argc, char** argv);
int falsify_command(int argc, char** argv);
int relay_command(int argc, char** argv);
int mx_command(int argc, char** argv);
int salesforce_command(int argc, char** argv);
int password_command(int argc, char** argv);
int auth_command(int argc, char** argv);

// "relaysim 0.1.0 (<git describe>)" and the versions of the libraries it was built with.
std::string version_text();

}  // namespace relaysim::cli
