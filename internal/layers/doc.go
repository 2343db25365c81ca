// Package layers has no code; its test checks the import graph against the
// package map in the README.
package layers
