#pragma once
// Runs a program (no shell) with a time limit, capturing stdout, stderr, the exit status and
// the child's peak resident memory.

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "shared_files.hpp"

namespace greta::test {

struct ChildResult {
    int exit_code = -1;       ///< exit status, or 128 + signal
    bool timed_out = false;
    long max_rss_kib = 0;     ///< peak resident set of the child
    std::string out, err;
};

inline ChildResult run_child(const std::string& program, const std::vector<std::string>& args,
                             std::chrono::seconds limit = std::chrono::seconds(120)) {
    static int counter = 0;
    const auto base = (scratch_dir() / ("child" + std::to_string(counter++))).string();
    const std::string out_path = base + ".out", err_path = base + ".err";
    const pid_t pid = ::fork();
    if (pid == 0) {
        const int in = ::open("/dev/null", O_RDONLY);
        const int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        const int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (in < 0 || out < 0 || err < 0) ::_exit(126);
        ::dup2(in, 0);
        ::dup2(out, 1);
        ::dup2(err, 2);
        std::vector<char*> argv{const_cast<char*>(program.c_str())};
        for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        ::execv(program.c_str(), argv.data());
        ::_exit(127);
    }
    ChildResult r;
    if (pid < 0) return r;
    const auto deadline = std::chrono::steady_clock::now() + limit;
    int status = 0;
    rusage usage{};
    for (;;) {
        const pid_t done = ::wait4(pid, &status, WNOHANG, &usage);
        if (done == pid) break;
        if (std::chrono::steady_clock::now() > deadline) {
            r.timed_out = true;
            ::kill(pid, SIGKILL);
            ::wait4(pid, &status, 0, &usage);
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    r.max_rss_kib = usage.ru_maxrss;
    const auto o = read_bytes(out_path), e = read_bytes(err_path);
    r.out.assign(o.begin(), o.end());
    r.err.assign(e.begin(), e.end());
    std::filesystem::remove(out_path);
    std::filesystem::remove(err_path);
    return r;
}

}  // namespace greta::test
