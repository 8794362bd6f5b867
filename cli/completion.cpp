// `relaysim completion bash|zsh`: a completion script written from each command's options (the
// table in cli/commands.cpp), so that it cannot fall behind what the commands accept.

#include <cstdio>
#include <string>

#include "cli/commands.hpp"
#include "cli/options.hpp"

namespace relaysim::cli {

namespace {

std::string joined(const std::vector<std::string_view>& words) {
  std::string text;
  for (std::string_view word : words) text += (text.empty() ? "" : " ") + std::string(word);
  return text;
}

// A command's option words: "--seed --trace ... -h --help"; only those that take a value when asked.
std::string option_words(const std::vector<OptionHelp>& options, bool valued_only) {
  std::string text;
  for (const OptionHelp& option : options) {
    if (valued_only && !option.takes_value) continue;
    text += (text.empty() ? "--" : " --") + option.long_name;
    if (!option.short_name.empty()) text += " -" + option.short_name;
  }
  return text;
}

std::string bash_script() {
  std::string names;
  for (const Command& command : commands()) names += std::string(command.name) + " ";
  std::string per_command, per_option;
  for (const Command& command : commands()) {
    const std::vector<OptionHelp> options = option_help(command);
    const char* operands = command.operands == Completes::file        ? "file"
                           : command.operands == Completes::directory ? "directory"
                                                                      : "";
    per_command += "    " + std::string(command.name) + ") flags='" + option_words(options, false) + "'; valued='" +
                   option_words(options, true) + "'; actions='" + joined(command.actions) + "'; operands=" + operands +
                   " ;;\n";
    for (const OptionHelp& option : options) {
      std::string reply;
      if (option.completes == Completes::file)
        reply = "compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- \"$cur\"))";
      if (option.completes == Completes::directory)
        reply = "compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -d -- \"$cur\"))";
      if (option.completes == Completes::words)
        reply = "COMPREPLY=($(compgen -W '" + joined(option.words) + "' -- \"$cur\"))";
      if (!reply.empty())
        per_option += "    " + std::string(command.name) + ":--" + option.long_name + ") " + reply + "; return ;;\n";
    }
  }
  return "# bash completion for relaysim, written by `relaysim completion bash` from each command's options.\n"
         "# Load it with: source <(relaysim completion bash)\n"
         "_relaysim() {\n"
         "  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}\n"
         "  if ((COMP_CWORD == 1)); then\n"
         "    COMPREPLY=($(compgen -W '" +
         names +
         "--help --version' -- \"$cur\"))\n"
         "    return\n"
         "  fi\n"
         "  local flags='' valued='' actions='' operands=''\n"
         "  case ${COMP_WORDS[1]} in\n" +
         per_command +
         "    *) return ;;\n"
         "  esac\n"
         "  case ${COMP_WORDS[1]}:$prev in\n" +
         per_option +
         "  esac\n"
         "  # The value of an option nobody can guess (a seed, a count): offer nothing.\n"
         "  if [[ \" $valued \" == *\" $prev \"* ]]; then return; fi\n"
         "  if [[ $cur == -* ]]; then\n"
         "    COMPREPLY=($(compgen -W \"$flags\" -- \"$cur\"))\n"
         "    return\n"
         "  fi\n"
         "  if [[ -n $actions ]]; then\n"
         "    # The first word that is neither an option nor an option's value is the action.\n"
         "    local i word action=''\n"
         "    for ((i = 2; i < COMP_CWORD; i++)); do\n"
         "      word=${COMP_WORDS[i]}\n"
         "      if [[ $word == -* ]]; then\n"
         "        if [[ \" $valued \" == *\" $word \"* ]]; then ((i++)); fi\n"
         "        continue\n"
         "      fi\n"
         "      action=$word\n"
         "      break\n"
         "    done\n"
         "    if [[ -z $action ]]; then\n"
         "      COMPREPLY=($(compgen -W \"$actions\" -- \"$cur\"))\n"
         "      return\n"
         "    fi\n"
         "  fi\n"
         "  case $operands in\n"
         "    file) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- \"$cur\")) ;;\n"
         "    directory) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -d -- \"$cur\")) ;;\n"
         "  esac\n"
         "}\n"
         "complete -F _relaysim relaysim\n";
}

// Text inside a single-quoted zsh word, and inside _arguments' [description] or _describe's "name:description".
std::string zsh_quoted(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\'') {
      out += "'\\''";
    } else if (c == '[' || c == ']' || c == ':' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

std::string zsh_action(Completes completes, const std::vector<std::string_view>& words) {
  switch (completes) {
    case Completes::file: return "_files";
    case Completes::directory: return "_files -/";
    case Completes::words: return "(" + joined(words) + ")";
    case Completes::nothing: break;
  }
  return " ";
}

std::string zsh_script() {
  std::string described, cases;
  for (const Command& command : commands()) {
    described += "    '" + std::string(command.name) + ":" + zsh_quoted(command.summary) + "'\n";
    std::string specs;
    for (const OptionHelp& option : option_help(command)) {
      const std::string description = "[" + zsh_quoted(option.description) + "]";
      const std::string argument =
          option.takes_value ? ":" + option.long_name + ":" + zsh_action(option.completes, option.words) : "";
      if (option.short_name.empty()) {
        specs += "        '--" + option.long_name + (option.takes_value ? "=" : "") + description + argument + "' \\\n";
      } else {
        specs += "        '(-" + option.short_name + " --" + option.long_name + ")'{-" + option.short_name + ",--" +
                 option.long_name + (option.takes_value ? "=" : "") + "}'" + description + argument + "' \\\n";
      }
    }
    if (!command.actions.empty()) specs += "        '1:action:(" + joined(command.actions) + ")' \\\n";
    if (command.operands == Completes::file) specs += "        '*:file:_files' \\\n";
    if (command.operands == Completes::directory) specs += "        '*:directory:_files -/' \\\n";
    specs.resize(specs.size() - 3);  // the last " \\\n"
    cases += "    " + std::string(command.name) + ")\n      _arguments -s \\\n" + specs + "\n      ;;\n";
  }
  return "#compdef relaysim\n"
         "# zsh completion for relaysim, written by `relaysim completion zsh` from each command's options.\n"
         "# Load it with: source <(relaysim completion zsh), or put it in $fpath as _relaysim.\n"
         "_relaysim() {\n"
         "  local -a commands\n"
         "  commands=(\n" +
         described +
         "  )\n"
         "  if ((CURRENT == 2)); then\n"
         "    _describe -t commands 'relaysim command' commands\n"
         "    return\n"
         "  fi\n"
         "  local command=${words[2]}\n"
         "  shift words\n"
         "  ((CURRENT--))\n"
         "  case $command in\n" +
         cases +
         "  esac\n"
         "}\n"
         "if [[ ${funcstack[1]} == _relaysim ]]; then\n"
         "  _relaysim \"$@\"\n"
         "else\n"
         "  compdef _relaysim relaysim\n"
         "fi\n";
}

}  // namespace

cxxopts::Options completion_options() {
  cxxopts::Options parser("relaysim completion",
                          "Print a completion script for bash or zsh, written from every command's options.\n"
                          "  bash: source <(relaysim completion bash)\n"
                          "  zsh:  source <(relaysim completion zsh)");
  parser.add_options()("h,help", "show this help")("shell", "bash or zsh", cxxopts::value<std::string>());
  parser.parse_positional({"shell"});
  parser.positional_help("bash|zsh");
  return parser;
}

int completion_command(int argc, char** argv) {
  cxxopts::Options parser = completion_options();
  std::string shell;
  try {
    const auto parsed = parser.parse(argc, argv);
    if (parsed.count("help")) {
      std::printf("%s\n", parser.help().c_str());
      return 0;
    }
    if (!parsed.count("shell")) throw cxxopts::exceptions::exception("name a shell: bash or zsh");
    shell = parsed["shell"].as<std::string>();
    if (shell != "bash" && shell != "zsh")
      throw cxxopts::exceptions::exception("'" + shell + "' is not a shell this knows: bash or zsh");
  } catch (const cxxopts::exceptions::exception& error) {
    return option_error("completion", error, argc, argv);
  }
  std::fputs((shell == "bash" ? bash_script() : zsh_script()).c_str(), stdout);
  return 0;
}

}  // namespace relaysim::cli
