package main

import (
	"bytes"
	"os"
	"testing"
)

func TestCommittedFixtureIsWhatTheGeneratorWrites(t *testing.T) {
	want, err := generate()
	if err != nil {
		t.Fatalf("generate: %v", err)
	}
	got, err := os.ReadFile("../../demo_register.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("idp/proofing/demo_register.json differs from the generator's output: run go generate ./idp/proofing")
	}
}

func TestGeneratorCheckDigitAgreesWithPublishedExamples(t *testing.T) {
	// Sources on proofing.checkDigit.
	for body, want := range map[string]byte{"A123456": '3', "AB123456": '9', "AB987654": '3', "E364912": '5', "D288754": '2', "G123456": 'A', "A000010": '0'} {
		if got := checkDigit(body); got != want {
			t.Errorf("checkDigit(%q) = %c, want %c", body, got, want)
		}
	}
}
