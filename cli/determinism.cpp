// `relaysim determinism FILE`: run the same world twice in two separate processes and compare the
// traces byte for byte. Exit 0 when they agree; otherwise name the first event where they part.

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cxxopts.hpp>
#include <fstream>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "cli/options.hpp"

extern char** environ;

namespace relaysim::cli {
namespace {

std::string self_path() {
  std::vector<char> buffer(4096);
  const ssize_t length = readlink("/proc/self/exe", buffer.data(), buffer.size() - 1);
  if (length <= 0) return "relaysim";
  return std::string(buffer.data(), static_cast<std::size_t>(length));
}

struct Run {
  std::string trace_path;
  int exit_status = -1;
};

// Starts `relaysim run FILE --quiet --trace TMP` as a child process.
pid_t spawn_run(const std::string& self, const std::string& file, const std::string& seed, const std::string& trace) {
  std::vector<std::string> arguments = {self, "run", file, "--quiet", "--trace", trace};
  if (!seed.empty()) {
    arguments.push_back("--seed");
    arguments.push_back(seed);
  }
  std::vector<char*> argv;
  for (std::string& argument : arguments) argv.push_back(argument.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  const int error = posix_spawn(&pid, self.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  return error == 0 ? pid : -1;
}

std::string temporary_path(int index) {
  const char* directory = std::getenv("TMPDIR");
  std::string pattern = std::string(directory != nullptr ? directory : "/tmp") + "/relaysim-determinism-" +
                        std::to_string(index) + "-XXXXXX";
  const int fd = mkstemp(pattern.data());
  if (fd < 0) return {};
  close(fd);
  return pattern;
}

std::string digest_line(const std::string& line) { return line.size() > 400 ? line.substr(0, 400) + "..." : line; }

}  // namespace

cxxopts::Options determinism_options() {
  cxxopts::Options parser("relaysim determinism",
                          "Run a world twice, in two separate processes, and compare the traces byte for byte.");
  parser.add_options()("seed", "override the file's seed", cxxopts::value<std::uint64_t>())("h,help", "show this help")(
      "file", "world file", cxxopts::value<std::string>());
  parser.parse_positional({"file"});
  parser.positional_help("FILE");
  return parser;
}

int determinism_command(int argc, char** argv) {
  cxxopts::Options parser = determinism_options();
  std::string file;
  std::string seed;
  try {
    const auto parsed = parser.parse(argc, argv);
    if (parsed.count("help")) {
      std::printf("%s\n", parser.help().c_str());
      return 0;
    }
    if (!parsed.count("file")) throw cxxopts::exceptions::exception("name the file to check");
    file = parsed["file"].as<std::string>();
    if (parsed.count("seed")) seed = std::to_string(parsed["seed"].as<std::uint64_t>());
  } catch (const cxxopts::exceptions::exception& error) {
    return option_error("determinism", error, argc, argv);
  }

  const std::string self = self_path();
  Run runs[2];
  pid_t pids[2];
  for (int i = 0; i < 2; ++i) {
    runs[i].trace_path = temporary_path(i + 1);
    if (runs[i].trace_path.empty()) {
      std::fprintf(stderr, "relaysim determinism: cannot create a temporary file\n");
      return 2;
    }
    pids[i] = spawn_run(self, file, seed, runs[i].trace_path);
  }
  for (int i = 0; i < 2; ++i) {
    int status = 0;
    if (pids[i] > 0 && waitpid(pids[i], &status, 0) == pids[i] && WIFEXITED(status)) {
      runs[i].exit_status = WEXITSTATUS(status);
    }
  }
  const auto cleanup = [&runs] {
    for (const Run& run : runs) std::remove(run.trace_path.c_str());
  };
  if (runs[0].exit_status == 2 || runs[1].exit_status == 2) {
    cleanup();
    return 2;  // the child already said what is wrong with the input
  }

  std::ifstream first(runs[0].trace_path), second(runs[1].trace_path);
  std::string line_a, line_b;
  std::uint64_t events = 0;
  while (true) {
    const bool more_a = static_cast<bool>(std::getline(first, line_a));
    const bool more_b = static_cast<bool>(std::getline(second, line_b));
    if (!more_a && !more_b) break;
    ++events;
    if (more_a != more_b || line_a != line_b) {
      std::printf("NOT DETERMINISTIC: the runs part at trace event %llu\n  run 1: %s\n  run 2: %s\n",
                  static_cast<unsigned long long>(events), more_a ? digest_line(line_a).c_str() : "(trace ended)",
                  more_b ? digest_line(line_b).c_str() : "(trace ended)");
      cleanup();
      return 1;
    }
  }
  cleanup();
  if (runs[0].exit_status != runs[1].exit_status) {
    std::printf("NOT DETERMINISTIC: identical traces but exit statuses %d and %d\n", runs[0].exit_status,
                runs[1].exit_status);
    return 1;
  }
  std::printf("deterministic: two processes produced the same %llu trace events\n",
              static_cast<unsigned long long>(events));
  return 0;
}

}  // namespace relaysim::cli
