// Package all registers every connector with the connectors registry. The
// agent imports it for its side effects:
//
//	import _ "github.com/sluice-edge/sluice/connectors/all"
package all

import (
	_ "github.com/sluice-edge/sluice/connectors/mqtt"      // type: mqtt
	_ "github.com/sluice-edge/sluice/connectors/opcua"     // type: opcua
	_ "github.com/sluice-edge/sluice/connectors/pi/omf"    // type: omf
	_ "github.com/sluice-edge/sluice/connectors/pi/webapi" // type: pi-webapi
)
