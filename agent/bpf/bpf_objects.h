// The BPF objects of Ferry's datapath, one per attach point, loaded with their maps shared.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "agent/bpf/libbpf_handles.h"
#include "common/result.h"

namespace ferry::agent {

enum class BpfHook { kConnect4, kConnect6, kSockops, kGetpeername4, kGetpeername6, kSkLookup };
inline constexpr size_t kBpfHookCount = 6;

// Short name: used in errors and as the pin name of a cgroup hook's link ("connect4", ...).
const char* BpfHookName(BpfHook hook);
// The hooks attached once to the pods' parent cgroup (all but sk_lookup, which is per pod netns).
inline constexpr std::array<BpfHook, 5> kCgroupHooks = {BpfHook::kConnect4, BpfHook::kConnect6,
                                                        BpfHook::kSockops, BpfHook::kGetpeername4,
                                                        BpfHook::kGetpeername6};

// Opens and loads every object, indexed by BpfHook. With pin_dir set the shared maps are reused
// from (or pinned to) pin_dir; with an empty pin_dir nothing is pinned (a probe). Stops at the first
// object that fails, naming its hook and the errno (the verifier log goes to the log).
Result<std::vector<LoadedBpfObject>> LoadDatapathObjects(const std::string& pin_dir);

// Routes libbpf's messages (verifier logs included) to spdlog. Idempotent.
void InstallLibbpfLogging();

}  // namespace ferry::agent
