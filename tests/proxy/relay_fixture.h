// A running Proxy with a FakeHandler and one loopback listener, torn down in order.
#pragma once

#include <gtest/gtest.h>

#include <memory>

#include "agent/proxy/proxy.h"
#include "fake_handler.h"
#include "loopback.h"

namespace ferry::proxy::testing {

inline ProxyOptions SmallTestOptions() {
  ProxyOptions options;
  options.workers = 2;
  options.buffers_per_worker = 64;
  options.buffer_size = 16384;
  return options;
}

struct RelayUnderTest {
  explicit RelayUnderTest(Ipv4Endpoint target, ProxyOptions options = SmallTestOptions())
      : handler(target) {
    auto created = Proxy::Create(options, &handler);
    if (!created.ok()) {
      ADD_FAILURE() << created.error().Message();
      return;
    }
    proxy = std::move(created).value();
    UniqueFd listener = BoundSocket(1024);
    address = LocalAddress(listener.get());
    auto id = proxy->AddListener(std::move(listener));
    if (!id.ok()) ADD_FAILURE() << id.error().Message();
    listener_id = id.ok() ? *id : 0;
  }

  FakeHandler handler;
  std::unique_ptr<Proxy> proxy;  // destroyed before the handler
  Ipv4Endpoint address;
  uint64_t listener_id = 0;
};

}  // namespace ferry::proxy::testing
