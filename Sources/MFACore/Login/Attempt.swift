/// This attempt's place in the failure budget: the n-th, and whether it started a lockout.
struct Attempt {
  var failures: Int
  var lockedFor: Int64
}
