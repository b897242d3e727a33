// The clerk panel, as ES modules: core/ (DOM and escaping templates, API client, session, routes,
// live events, vocabulary) and one module per feature, each registering its routes, event
// subscriptions and start hooks. Importing a feature is all it takes to add it. No framework, no CDN.
import * as session from "./core/session.js";
import "./core/estates.js";  // before the features: their start hooks read the user's estates
import "./features/entry.js";
import "./features/ledger.js";
import "./features/manual.js";
import "./features/units.js";
import "./features/system.js";
import "./features/presence.js";
import "./features/board.js";
import "./features/workflow.js";
import "./features/notifications.js";
import "./features/handover.js";
import "./features/qa.js";
import "./features/reports.js";

session.bind();
session.start();
