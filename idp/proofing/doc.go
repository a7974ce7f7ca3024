// Package proofing establishes who a resident is before an account is made
// for them: the first step of registration (DESIGN.md, "Register"). An
// account is only as trustworthy as this check, and it is the one place an
// attacker can guess at other people's details, so it lives apart from the
// account code, with its rate limits beside it.
//
// It holds:
//   - Hong Kong Identity Card numbers: NormalizeIDNumber (shape and check
//     digit) and FormatIDNumber;
//   - the civil register: the CivilRegister interface that the
//     Immigration Department's register would implement, and DemoRegister,
//     a synthetic one for development and tests;
//   - assurance levels (Level, with the acr values the OpenID Provider
//     publishes): Substantial for remote proofing, High for a counter;
//   - Proofer, which checks a person's details against the register with
//     per-identity and per-address failure limits and lockout kept in the
//     proofing_failures table, and answers without revealing whether an
//     ID number exists (DESIGN.md, Security requirements).
//
// # The demo register
//
// demo_register.json holds 246 synthetic people, written by internal/gen
// (go generate); no real person is in it. The first six are fixed, for
// tests and documentation:
//
//	A123456(3)   CHAN Tai Man 陳大文, born 1985-04-12, M, valid card
//	K618025(6)   LEE Mei Ling 李美玲, born 1972-09-30, F, cancelled card
//	R207716(6)   FERNANDES Maria Clara (no Chinese name), born 1990-02-28, F, valid card
//	AB987654(3)  WONG Ka Ho 黃家豪, born 1962-11-03, M, valid card (two-letter prefix)
//	G123456(A)   HO Wing Sze 何詠詩, born 2001-07-19, F, valid card (check digit A)
//	Y305517(3)   CHEUNG Alex Chi Ho 張志豪, born 1999-12-31, X, valid card
//
// Proofing as CHAN Tai Man, for example, takes ID number "A123456(3)",
// birth date "1985-04-12" and name "CHAN Tai Man", "Tai Man Chan" or
// "陳大文". The others include about ten cancelled cards, two-letter
// prefixes, and Chinese names for about half.
package proofing
