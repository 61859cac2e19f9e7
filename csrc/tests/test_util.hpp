// Small helpers shared by the C++ tests.
#pragma once

#include <doctest/doctest.h>

#include <string>

#include "facekd/c_api.h"

// Checks a failing call: status and that the message names `needle`.
#define CHECK_FAILS_WITH(call, status, needle)                                  \
  do {                                                                          \
    const fk_status st_ = (call);                                               \
    CHECK(st_ == (status));                                                     \
    const std::string msg_ = fk_last_error();                                   \
    INFO("message: " << msg_);                                                  \
    CHECK(msg_.find(needle) != std::string::npos);                              \
  } while (0)
