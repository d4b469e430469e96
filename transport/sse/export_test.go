package sse

// Encoder lets the black-box tests check framing the hub does not yet
// exercise (join and leave).
var Encoder = sseEncoder
