#pragma once
// what() of the greta::Error that f throws, or a marker string if it throws nothing or
// something else, for CHECK_THAT(..., ContainsSubstring(...)).
#include <string>

#include <greta/core/error.hpp>

namespace greta::test {

template <class F>
std::string error_message(F&& f) {
    try {
        f();
    } catch (const greta::Error& e) {
        return e.what();
    } catch (...) {
        return "<threw something other than greta::Error>";
    }
    return "<did not throw>";
}

}  // namespace greta::test
