package poll

// ParseHead is parseHead, for the fuzz test that holds it to net/http.
var ParseHead = parseHead
