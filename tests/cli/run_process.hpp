#pragma once
// Runs a program with arguments, capturing stdout, stderr and the exit status.

#include <sys/wait.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "shared_files.hpp"

namespace greta::test {

struct ProcessResult {
    int exit_code = -1;
    std::string out, err;
};

inline std::string shell_quote(const std::string& s) {
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

inline ProcessResult run_process(const std::string& program, const std::vector<std::string>& args) {
    static int counter = 0;
    const auto base = scratch_dir() / ("proc" + std::to_string(counter++));
    std::string cmd = shell_quote(program);
    for (const auto& a : args) cmd += " " + shell_quote(a);
    cmd += " </dev/null >" + shell_quote(base.string() + ".out") + " 2>" + shell_quote(base.string() + ".err");
    const int status = std::system(cmd.c_str());
    ProcessResult r;
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    const auto out = read_bytes(base.string() + ".out"), err = read_bytes(base.string() + ".err");
    r.out.assign(out.begin(), out.end());
    r.err.assign(err.begin(), err.end());
    return r;
}

/// Number of lines in s (a final line without '\n' counts).
inline std::size_t line_count(const std::string& s) {
    std::size_t n = 0;
    for (char c : s) n += c == '\n';
    return n + (!s.empty() && s.back() != '\n');
}

}  // namespace greta::test
