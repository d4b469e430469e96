package poll

// ParseHead is parseHead, for the fuzz test that holds it to net/http.
var ParseHead = parseHead

// Parked counts the polls waiting outside net/http.
func Parked(h *Handler) int { return int(h.parked.Load()) }
