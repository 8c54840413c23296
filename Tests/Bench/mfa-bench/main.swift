import Glibc
import MFACore

// `make bench` (first version): what one login costs inside the module's core, in process.
// Medians of repeated runs; the PAM-level comparison with other modules comes on top of this.

struct NoPrivileges: PrivilegeSwitch {
  func asUser<Value>(_ account: UserAccount, _ body: () throws(FileError) -> Value) throws(FileError) -> Value {
    try body()
  }
}

func nowNanoseconds() -> UInt64 {
  var spec = timespec()
  clock_gettime(CLOCK_MONOTONIC, &spec)
  return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
}

/// Median wall time of `runs` calls, in microseconds.
func median(runs: Int, _ body: () -> Void) -> Double {
  var samples: [UInt64] = []
  for _ in 0..<runs {
    let start = nowNanoseconds()
    body()
    samples.append(nowNanoseconds() - start)
  }
  samples.sort()
  return Double(samples[samples.count / 2]) / 1000
}

/// One decimal: 12.3
func tenths(_ value: Double) -> String {
  let scaled = Int((value * 10).rounded())
  return "\(scaled / 10).\(scaled % 10)"
}

func padded(_ text: String, _ width: Int) -> String {
  text + String(repeating: " ", count: max(1, width - text.count))
}

func row(_ name: String, _ micros: Double, _ note: String) {
  let value = micros >= 1000 ? tenths(micros / 1000) + " ms" : tenths(micros) + " µs"
  print(padded(name, 46) + padded(value, 12) + note)
}

var template = Array("/tmp/mfa-bench-XXXXXX".utf8CString)
guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else { fatalError("mkdtemp") }
let directory = String(cString: made)
defer { _ = system("rm -rf '\(directory)'") }

let key = try SystemRandom.bytes(20)
let authenticator = Authenticator(name: Authenticator.defaultName, algorithm: .sha1, digits: 6, period: 30, key: key)
let (codes, hashes) = try BackupCodes.generate(count: BackupCodes.defaultCount)
let enrollment = Enrollment(authenticators: [authenticator], backupCodes: hashes)
let time = Int64(Glibc.time(nil))
let code = OTP.hotp(key: key, counter: UInt64(OTP.timeStep(at: time, period: 30)), digits: 6, algorithm: .sha1)!

print(
  "pam_mfa core costs (median; \(BackupCodes.defaultCount) backup codes, PBKDF2 \(BackupCodes.defaultIterations) rounds)"
)
row(
  "TOTP check, window 1 (3 HMAC-SHA1)",
  median(runs: 2000) {
    _ = TOTPVerifier.matches(code: code, enrollment: enrollment, time: time, window: 1)
  }, "")
row(
  "backup code check, wrong code (all 10)",
  median(runs: 21) {
    _ = BackupCodes.match(Array("222233334444".utf8), in: hashes)
  }, "budget: < 50 ms")
row(
  "backup code check, right code (all 10)",
  median(runs: 21) {
    _ = BackupCodes.match(codes[9], in: hashes)
  }, "constant: every hash is computed")

let store = FileStateStore(directory: directory + "/state")
var step: Int64 = 1
row(
  "state update in place (pwrite + fdatasync)",
  median(runs: 200) {
    step += 1
    _ = try? store.update(user: Array("bench".utf8)) { $0.setLastStep(step, of: Authenticator.defaultName) }
  }, "per successful login")

let account = UserAccount(name: Array("bench".utf8), uid: geteuid(), gid: getegid(), home: Array(directory.utf8))
let secretPath = directory + "/secret"
let secrets = SecretFileStore(path: secretPath, account: account, privileges: NoPrivileges(), state: store)
row(
  "secret file rewrite (lock, tmp, fsync, rename)",
  median(runs: 100) {
    try? withExclusiveLock(secretPath + ".lock") { () throws(FileError) in
      try SafeFile.write(path: secretPath, contents: SecretFileFormat.serialize(enrollment), mode: 0o600)
    }
    _ = try? secrets.updateEnrollment { $0.backupCodes.removeLast() }
  }, "write + consume one backup code")
