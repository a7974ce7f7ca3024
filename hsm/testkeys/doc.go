// Package testkeys opens the key backends for tests of packages that use
// keys (the CA, the vault, signing, …): a soft backend in a temporary
// directory with a random master key, and SoftHSM2 through PKCS#11 on a
// fresh token from internal/testenv. Each closes when the test ends. The
// backends' own tests do not use it (they test opening itself).
package testkeys
