package webrtc

// sysSendmmsg is sendmmsg(2)'s number (the syscall package lacks it on amd64).
const sysSendmmsg = 307
