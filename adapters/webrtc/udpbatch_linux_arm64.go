package webrtc

// sysSendmmsg is sendmmsg(2)'s number.
const sysSendmmsg = 269
