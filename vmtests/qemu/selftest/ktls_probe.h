// Proves kTLS transmit works end to end on the running kernel: a loopback TCP connection gets the
// "tls" ULP and AES-128-GCM TLS 1.2 transmit keys; a plaintext write must come out on the wire as
// one TLS record that decrypts (with the same keys, in user space) to exactly that plaintext.
#pragma once

#include <string>

#include "common/result.h"

namespace ferry::vmtest {

// Returns the plaintext recovered from the record the kernel produced for <plaintext>.
Result<std::string> SendThroughKtlsAndDecrypt(const std::string& plaintext);

}  // namespace ferry::vmtest
