// swift-tools-version:6.0
// One package, two configurations:
//   swift build                      → mfa-enroll and the tests (normal Swift, static stdlib via the Makefile);
//                                      no pam_mfa.so: the module is declared only in the Embedded configuration
//   MFA_EMBEDDED=1 swift build ...   → pam_mfa.so and mfa_chkcode in Embedded Swift (no Swift runtime enters
//                                      the PAM host)
// The Makefile is the front door and passes the right flags; see `make build`.
import PackageDescription

let embedded = Context.environment["MFA_EMBEDDED"] == "1"
// `make fuzz`: adds the libFuzzer target (built with --sanitize=fuzzer).
let fuzzing = Context.environment["MFA_FUZZ"] == "1"
let root = Context.packageDirectory

// The core and the module compile as Embedded Swift for the shipped .so.
let coreSettings: [SwiftSetting] =
  embedded ? [.enableExperimentalFeature("Embedded"), .unsafeFlags(["-wmo", "-Osize"])] : []

let moduleLinker: [LinkerSetting] = [
  .linkedLibrary("pam"),
  // Export only pam_sm_*; never unload (long-lived hosts dlopen/dlclose modules repeatedly).
  .unsafeFlags([
    "-Xlinker", "--version-script=\(root)/pam/pam_mfa.map",
    "-Xlinker", "-z", "-Xlinker", "nodelete",
    "-Xlinker", "-z", "-Xlinker", "now",
    "-Xlinker", "-z", "-Xlinker", "relro",
  ]),
]

var products: [Product] = []
var targets: [Target] = [
  .target(name: "CLibc"),
  .target(name: "CPAM", linkerSettings: [.linkedLibrary("pam")]),
  // libcrypto by dlopen on first use, never linked: a login that computes no code does not load it.
  .target(name: "CCrypto"),
  .target(name: "MFACore", dependencies: ["CLibc", "CCrypto"], swiftSettings: coreSettings),
]
var dependencies: [Package.Dependency] = []

if embedded {
  // The module exists only in Embedded Swift: a plain `swift build` cannot make a pam_mfa.so
  // that would load the Swift runtime into sshd.
  products.append(.library(name: "pam_mfa", type: .dynamic, targets: ["PAMModule"]))
  targets.append(
    .target(
      name: "PAMModule", dependencies: ["MFACore", "CLibc", "CPAM"], swiftSettings: coreSettings,
      linkerSettings: moduleLinker))
  // The setuid helper for unprivileged callers: Embedded Swift too, so the privileged program is
  // the core and libc, nothing else (`make build` puts it in build/pam_mfa/).
  products.append(.executable(name: "mfa_chkcode", targets: ["mfa_chkcode"]))
  targets.append(
    .executableTarget(
      name: "mfa_chkcode", dependencies: ["MFACore", "CLibc"],
      swiftSettings: coreSettings + [.unsafeFlags(["-parse-as-library"])],
      linkerSettings: [
        .unsafeFlags(["-Xlinker", "-z", "-Xlinker", "now", "-Xlinker", "-z", "-Xlinker", "relro", "-Xlinker", "-pie"])
      ]))
}

if !embedded {
  dependencies.append(.package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"))
  products.append(.executable(name: "mfa-enroll", targets: ["mfa-enroll"]))
  targets += [
    .executableTarget(
      name: "mfa-enroll",
      dependencies: [
        "MFACore", "CLibc", "CPAM", "PSKC",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ],
      // Full RELRO like the module: the dynamic linker resolves everything at start.
      linkerSettings: [
        .unsafeFlags(["-Xlinker", "-z", "-Xlinker", "now", "-Xlinker", "-z", "-Xlinker", "relro"])
      ]),
    // `mfa-enroll import pskc`: a strict XML reader and RFC 6030 key containers (CLI only).
    .target(name: "PSKC", dependencies: ["MFACore"]),
    .testTarget(name: "MFACoreTests", dependencies: ["MFACore"]),
    .testTarget(name: "PSKCTests", dependencies: ["PSKC", "MFACore"], exclude: ["rfc6030-figure6.pskcxml"]),
    // `make bench`: in-process costs of the core (not shipped).
    .executableTarget(name: "mfa-bench", dependencies: ["MFACore"], path: "Tests/Bench/mfa-bench"),
  ]
}

if fuzzing {
  products.append(.executable(name: "mfa-fuzz", targets: ["MFAFuzz"]))
  targets.append(
    .executableTarget(
      name: "MFAFuzz", dependencies: ["MFACore", "PSKC"], path: "Tests/Fuzz", exclude: ["corpus"],
      swiftSettings: [.unsafeFlags(["-parse-as-library"])]))
}

let package = Package(
  name: "pam_mfa",
  products: products,
  dependencies: dependencies,
  targets: targets
)
