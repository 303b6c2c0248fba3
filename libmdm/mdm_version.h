#ifndef MDM_VERSION_H
#define MDM_VERSION_H

#define MDM_VERSION "0.1.0"

#endif
