package app

import "github.com/hookmesh/hookmesh/services/orders/internal/orders"

// catalogueMarker records in the database that the demo catalogue was loaded, so
// it is loaded once, not again after the stock has been sold or removed.
const catalogueMarker = "demo-catalogue-v1"

// Catalogue is the demo stock loaded at first start in embedded mode. The demo's
// sample orders use these SKUs.
var Catalogue = []orders.StockLevel{
	{SKU: "TSHIRT-BLK-M", Name: "T-shirt, black, M", Quantity: 100},
	{SKU: "TSHIRT-WHT-L", Name: "T-shirt, white, L", Quantity: 100},
	{SKU: "HOODIE-GRY-M", Name: "Hoodie, grey, M", Quantity: 25},
	{SKU: "MUG-LOGO", Name: "Mug with logo", Quantity: 50},
	{SKU: "STICKER-PACK", Name: "Sticker pack", Quantity: 500},
}
