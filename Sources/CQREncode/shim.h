// libqrencode: the CLI renders the otpauth URI as a terminal QR code (the module never links it).
#include <qrencode.h>
