#ifndef FIELDWATCH_CMOSQUITTO_SHIM_H
#define FIELDWATCH_CMOSQUITTO_SHIM_H
#include <mosquitto.h>
#endif
