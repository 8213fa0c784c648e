// Watches one interface for the mTLS vmtests: how many IPv4/TCP packets went to or from a port
// (e.g. 15008, or the application's port — which must NOT show up on the underlay when the mesh
// tunnels it) and whether plaintext markers appeared in any TCP payload.
//
// An AF_PACKET socket bound to the interface, in the network namespace of the thread that calls
// Start(). The socket also puts the interface in promiscuous mode: on a Linux bridge (the local
// cluster's `ferry-ul0`) frames forwarded between two ports only reach the bridge device's own
// taps when it is promiscuous. Counts are per captured frame: with GSO/GRO one frame may carry
// several wire segments, and a marker split across two frames is not seen — send markers in one
// small write.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"

namespace ferry::vmtest {

class UnderlayCapture {
 public:
  struct Stats {
    uint64_t frames = 0;    // everything read from the interface
    uint64_t ipv4_tcp = 0;  // frames parsed as IPv4/TCP
    std::vector<uint64_t> tcp_packets_port = std::vector<uint64_t>(65536);  // sport or dport
    std::vector<std::string> markers;
    std::vector<uint64_t> marker_hits;  // parallel to markers: frames whose TCP payload had it

    // TCP frames with source or destination port == port (counted once if both are).
    uint64_t CountPort(uint16_t port) const { return tcp_packets_port[port]; }
    // Frames whose TCP payload contained `marker`; 0 for a marker that was not registered.
    uint64_t MarkerHits(const std::string& marker) const;
  };

  // Starts capturing on `ifname` (in the calling thread's network namespace).
  static Result<std::unique_ptr<UnderlayCapture>> Start(const std::string& ifname,
                                                        std::vector<std::string> markers);
  ~UnderlayCapture();
  UnderlayCapture(const UnderlayCapture&) = delete;
  UnderlayCapture& operator=(const UnderlayCapture&) = delete;

  // Counts so far; capture continues (for "wait until CountPort rises" polling).
  Stats Snapshot() const;
  uint64_t CountPort(uint16_t port) const;
  uint64_t MarkerHits(const std::string& marker) const;

  // Drains what the kernel already queued, stops the thread and returns the final counts.
  // Idempotent: later calls return the same counts.
  Stats Stop();

 private:
  UnderlayCapture(UniqueFd fd, std::vector<std::string> markers);
  void Run();
  void ReadAvailable(std::vector<uint8_t>& buffer);
  void Account(const uint8_t* frame, size_t length);

  UniqueFd fd_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  Stats stats_;  // guarded by mu_
  std::thread thread_;
};

}  // namespace ferry::vmtest
