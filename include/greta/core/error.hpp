#pragma once
/// @file greta::Error: the one exception type GRETA throws, carrying where things went wrong.

#include <cstdint>
#include <optional>
#include <source_location>
#include <stdexcept>
#include <string>
#include <utility>

namespace greta {

/// Context attached to an error: which file, where in it, which tensor or key.
struct ErrorContext {
    std::string file;
    std::optional<std::uint64_t> offset;
    std::string key;     ///< metadata key, tensor name, or config field
};

/// The exception type of GRETA. what() is a complete one-line message:
/// "FILE: MESSAGE (at offset N, tensor 'T')".
class Error : public std::runtime_error {
public:
    explicit Error(std::string message, ErrorContext ctx = {})
        : std::runtime_error(format(message, ctx)), message_(std::move(message)), ctx_(std::move(ctx)) {}

    const std::string& message() const noexcept { return message_; }
    const ErrorContext& context() const noexcept { return ctx_; }

private:
    static std::string format(const std::string& message, const ErrorContext& ctx) {
        std::string s;
        if (!ctx.file.empty()) s += ctx.file + ": ";
        s += message;
        std::string where;
        if (ctx.offset) where += "at offset " + std::to_string(*ctx.offset);
        if (!ctx.key.empty()) where += (where.empty() ? "" : ", ") + std::string("'") + ctx.key + "'";
        if (!where.empty()) s += " (" + where + ")";
        return s;
    }
    std::string message_;
    ErrorContext ctx_;
};

/// Throws greta::Error unless cond holds. The message is only built on failure.
template <class MakeMessage>
inline void check(bool cond, MakeMessage&& make_message, const ErrorContext& ctx = {}) {
    if (!cond) throw Error(std::forward<MakeMessage>(make_message)(), ctx);
}

/// Internal invariant that the caller's code guarantees; reports the caller's location.
inline void ensure(bool cond, const char* what,
                   std::source_location where = std::source_location::current()) {
    if (!cond)
        throw Error(std::string("internal error: ") + what + " [" + where.file_name() + ":" +
                    std::to_string(where.line()) + " in " + where.function_name() + "]");
}

}  // namespace greta
