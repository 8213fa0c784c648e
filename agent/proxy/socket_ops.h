// Small non-blocking socket operations the relay needs around io_uring.
#pragma once

#include <chrono>

#include "common/ipv4.h"
#include "common/result.h"

namespace ferry::proxy {

// SO_LINGER{1,0}: the next close() sends RST instead of FIN.
void ArmResetOnClose(int fd);
// A relay must not add Nagle delay to what the application already chose to send.
void DisableNagle(int fd);
Result<void> EnableKeepalive(int fd, std::chrono::seconds idle, std::chrono::seconds interval,
                             int count);
Result<Ipv4Endpoint> PeerEndpoint(int fd);
Result<Ipv4Endpoint> LocalEndpoint(int fd);

}  // namespace ferry::proxy
