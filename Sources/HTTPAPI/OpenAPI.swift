import Foundation
import ServiceDesk
import Storage

/// The OpenAPI 3.1 document, generated from the same route table the router is built from.
enum OpenAPI {
    static func document() -> Data {
        var paths: [String: [String: Any]] = [:]
        for route in APIRoutes.all {
            var operation: [String: Any] = [
                "summary": route.summary,
                "operationId": operationID(route),
                "responses": responses(route),
            ]
            var parameters: [[String: Any]] = route.pathParameters.map {
                ["name": $0, "in": "path", "required": true, "schema": ["type": "string"]]
            }
            parameters += route.query.map { ["name": $0.name, "in": "query", "required": false, "description": $0.help, "schema": ["type": "string"]] }
            if !parameters.isEmpty { operation["parameters"] = parameters }
            if let body = route.body {
                operation["requestBody"] = ["required": true, "content": ["application/json": ["schema": ["$ref": "#/components/schemas/\(body)"]]]]
            }
            if let op = route.operation {
                operation["security"] = [["bearer": [String]()]]
                let roles = APIToken.Role.allCases.filter(Access.roles(for: op).contains).map(\.rawValue)
                operation["x-roles"] = route.path.hasSuffix("/actions/{action}") ? ["depends on the action; see the description"] : roles
                if route.path.hasSuffix("/actions/{action}") {
                    operation["description"] = TicketAction.allCases.map { a in
                        "\(a.rawValue): " + APIToken.Role.allCases.filter(Access.roles(for: .step(a)).contains).map(\.rawValue).joined(separator: ", ")
                    }.joined(separator: "; ")
                }
            }
            paths[route.path, default: [:]][route.method.rawValue.lowercased()] = operation
        }
        let doc: [String: Any] = [
            "openapi": "3.1.0",
            "info": [
                "title": "Fieldwatch API", "version": "1",
                "description": "Predictive-maintenance gateway and service desk. Errors: {\"error\": {\"status\", \"code\", \"message\"}}. "
                    + "Keys are snake_case. Every time in every response, nested records included, is an RFC 3339 string with an offset "
                    + "(format date-time, such as 2026-11-24T01:40:00.000Z); no response carries epoch numbers. Samples are {ts, value} "
                    + "both in telemetry and in a detection's evidence. "
                    + "Out-of-scope records answer 404; operations a role may never do answer 403.",
            ],
            "paths": paths,
            "components": [
                "securitySchemes": ["bearer": ["type": "http", "scheme": "bearer", "description": "A token from `fieldwatch tokens create`."]],
                "schemas": schemas,
            ],
        ]
        return (try? JSONSerialization.data(withJSONObject: doc, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])) ?? Data()
    }

    static func operationID(_ route: RouteSpec) -> String {
        route.method.rawValue.lowercased() + route.path.split(separator: "/").map { part in
            let word = part.trimmingCharacters(in: CharacterSet(charactersIn: "{}.")).replacingOccurrences(of: ".", with: "")
            return word.prefix(1).uppercased() + word.dropFirst()
        }.joined()
    }

    static func responses(_ route: RouteSpec) -> [String: Any] {
        let error: [String: Any] = ["description": "error", "content": ["application/json": ["schema": ["$ref": "#/components/schemas/Error"]]]]
        var result: [String: Any] = [:]
        let name = route.response.hasSuffix("[]") ? String(route.response.dropLast(2)) : route.response
        let schema: [String: Any] = schemas[name] == nil ? ["type": "object"]
            : route.response.hasSuffix("[]") ? ["type": "array", "items": ["$ref": "#/components/schemas/\(name)"]] : ["$ref": "#/components/schemas/\(name)"]
        result[route.method == .post && ["ReportRequest", "ProposeRequest", "RatingRequest", "VisitStartRequest", "RemoteRequest"].contains(route.body ?? "") ? "201" : "200"] =
            route.response == "Prometheus text" ? ["description": route.response, "content": ["text/plain": ["schema": ["type": "string"]]]]
                : ["description": route.response, "content": ["application/json": ["schema": schema]]]
        if route.body == "ReportRequest" { result["200"] = ["description": "linked to an open ticket", "content": ["application/json": ["schema": schema]]] }
        if route.operation != nil {
            result["401"] = error
            result["403"] = error
        }
        if !route.pathParameters.isEmpty { result["404"] = error }
        if route.body != nil {
            result["400"] = error
            result["413"] = error
            result["409"] = error
        }
        result["422"] = error
        return result
    }

    /// A property's schema from a short spelling: `string`, `integer`, `number`, `boolean`,
    /// `object`, `array`; `time` for an RFC 3339 date-time string; `Name` for a component;
    /// `[T]` for an array of T; `{string}` for a string map; a trailing `?` allows null.
    static func property(_ type: String) -> [String: Any] {
        if type.hasSuffix("?") {
            let inner = property(String(type.dropLast()))
            if let t = inner["type"] as? String, inner["$ref"] == nil { return inner.merging(["type": [t, "null"]]) { $1 } }
            return ["oneOf": [inner, ["type": "null"]]]
        }
        if type.hasPrefix("[") { return ["type": "array", "items": property(String(type.dropFirst().dropLast()))] }
        if type.hasPrefix("{") { return ["type": "object", "additionalProperties": property(String(type.dropFirst().dropLast()))] }
        if type == "time" { return ["type": "string", "format": "date-time"] }
        if let first = type.first, first.isUppercase { return ["$ref": "#/components/schemas/\(type)"] }
        return ["type": type]
    }

    static func object(_ properties: [String: String], required: [String] = []) -> [String: Any] {
        var schema: [String: Any] = ["type": "object", "properties": properties.mapValues(property)]
        if !required.isEmpty { schema["required"] = required }
        return schema
    }

    static var schemas: [String: Any] { [
        "Error": ["type": "object", "required": ["error"], "properties": ["error": object(["status": "integer", "code": "string", "message": "string"])]],
        "Health": object(["status": "string"]),
        "Site": object(["id": "string", "name": "string", "customer": "string", "tier": "string", "timezone": "string", "latitude": "number",
                        "longitude": "number", "devices": "integer", "open_tickets": "integer"]),
        "Sample": object(["ts": "time", "value": "number"], required: ["ts", "value"]),
        "Sensor": object(["key": "string", "unit": "string", "latest": "Sample?", "warning": "number?", "critical": "number?"]),
        "Device": object(["id": "string", "site": "string", "profile": "string", "name": "string?", "criticality": "integer", "status": "string",
                          "last_seen": "time?", "open_tickets": "integer", "sensors": "[Sensor]"]),
        "Bucket": object(["ts": "time", "count": "integer", "min": "number", "max": "number", "mean": "number"]),
        "Telemetry": object(["device": "string", "sensor": "string", "unit": "string", "from": "time", "to": "time", "samples": "[Sample]",
                             "count": "integer", "min": "number?", "max": "number?", "mean": "number?", "warning": "number?", "critical": "number?",
                             "rollup": "[Bucket]?"]),
        "Forecast": object(["limit": "number", "crossing_at": "time", "earliest": "time", "latest": "time?", "hours_to_limit": "number",
                            "slope_per_hour": "number", "level": "number", "fitted_at": "time", "window_start": "time", "points": "integer",
                            "lead": "string"]),
        "Ticket": object(["id": "integer", "site": "string", "device": "string", "sensor": "string?", "fault_code": "string", "source": "string",
                          "grade": "string", "status": "string", "title": "string", "opened_at": "time", "updated_at": "time",
                          "occurrences": "integer", "detector": "string?", "detector_version": "integer?", "profile_id": "string?",
                          "profile_version": "integer?", "last_value": "number?", "limit": "number?", "unit": "string?", "owner": "string?",
                          "customer": "string?", "tier": "string", "criticality": "integer?", "time_zone": "string?", "paused": "boolean",
                          "channel": "string?", "cancel_reason": "string?", "complaint_of": "integer?", "assignee": "string?", "drill": "boolean",
                          "forecast": "Forecast?"]),
        "Clock": object(["kind": "string", "state": "string", "target": "string", "calendar": "string", "deadline": "time?", "met_at": "time?",
                         "breached": "boolean"]),
        "Pause": object(["id": "integer", "reason": "string", "evidence": "string", "actor": "string", "started_at": "time", "ended_at": "time?"]),
        "Rating": object(["id": "integer", "score": "integer", "comment": "string", "actor": "string", "at": "time"]),
        "Escalation": object(["clock": "string", "level": "string", "deadline": "time", "due_at": "time", "fired_at": "time"]),
        "Detection": object(["id": "integer", "transition": "string", "severity": "string", "sensor": "string", "detected_at": "time",
                             "condition_since": "time", "value": "number", "limit": "number", "unit": "string", "detector": "string",
                             "detector_version": "integer", "profile_id": "string", "profile_version": "integer", "summary": "string",
                             "evidence": "[Sample]", "recorded_at": "time", "forecast": "Forecast?"]),
        "TimelineEntry": object(["id": "integer", "at": "time", "actor": "string", "action": "string", "detail": "{string}", "hash": "string"]),
        "TicketDetail": object(["ticket": "Ticket", "allowed_actions": "[string]", "clocks": "[Clock]", "pauses": "[Pause]", "solutions": "[Solution]",
                                "ratings": "[Rating]", "escalations": "[Escalation]", "detections": "[Detection]", "visits": "[Visit]",
                                "remote_assists": "[RemoteAssist]", "timeline": "[TimelineEntry]"]),
        "Visit": object(["id": "integer", "engineer": "string", "started_at": "time", "distance_m": "number?", "check_in": "string",
                         "accepted_by": "string?", "finished_at": "time?", "outcome": "string?", "reason": "string?", "work": "string?",
                         "labour_hours": "number?", "parts": "string?"]),
        "RemoteAssist": object(["id": "integer", "actor": "string", "at": "time", "checked": "string", "instructions": "string", "outcome": "string"]),
        "VisitStartRequest": object(["engineer": "string?", "latitude": "number?", "longitude": "number?", "at": "time?"]),
        "VisitFinishRequest": object(["outcome": "string", "reason": "string?", "work": "string", "labour_hours": "number", "parts": "string?", "at": "time?"],
                                     required: ["outcome", "work", "labour_hours"]),
        "RemoteRequest": object(["checked": "string", "instructions": "string", "outcome": "string", "at": "time?"], required: ["checked", "instructions", "outcome"]),
        "AskRequest": object(["question": "string", "device": "string?"], required: ["question"]),
        "AssistantSource": object(["kind": "string", "id": "string", "title": "string"]),
        "AssistantAnswer": object(["answer": "string", "sources": "[AssistantSource]", "intent": "string", "handover_ticket": "integer?", "handover": "string?"]),
        "KPIRow": object(["kpi": "string", "value": "string", "target": "string", "status": "string"]),
        "KPIFigures": ["type": "object", "description": "The KPI figures (definitions kpi-1); durations in minutes, shares 0…1, null when not available.",
                       "properties": ["from": property("time"), "to": property("time"), "definitions": property("string"), "tickets": property("integer"),
                                      "mtbf_hours": property("[MTBF]")]],
        "MTBF": object(["model": "string", "fault": "string?", "devices": "integer", "operating_hours": "number", "failures": "integer",
                        "hours": "number?"]),
        "KPIs": object(["month": "string", "timezone": "string", "kpis": "KPIFigures", "table": "[KPIRow]"]),
        "CaseSuggestions": object(["ticket": "integer", "cases": "[CaseSuggestion]"]),
        "CaseSearch": object(["query": "string", "cases": "[CaseSuggestion]"]),
        "CaseSuggestion": object(["id": "integer", "source": "string", "ticket": "integer?", "model": "string?", "fault_code": "string?", "title": "string",
                                  "diagnosis": "string?", "fix": "string?", "parts": "string?", "labour_hours": "number?", "repair_minutes": "integer?",
                                  "outcome": "string?", "lesson": "string?", "why": "string"]),
        "PartsStatus": object(["parts": "[PartStock]", "orders": "[ReplenishOrder]"]),
        "ReplenishOrder": object(["part": "string", "location": "string", "quantity": "integer", "why": "string", "tickets": "[integer]", "vip": "boolean"]),
        "PartStock": object(["part": "string", "location": "string", "kind": "string", "on_hand": "integer", "reserved": "integer", "available": "integer",
                             "predicted_demand": "number?", "reorder_point": "number", "warnings": "[string]"]),
        "DeadLetter": object(["key": "string", "kind": "string", "destination": "string", "created_at": "time", "attempts": "integer",
                              "last_error": "string?", "dead_at": "time"]),
        "RetryRequest": object(["destination": "string?"], required: []),
        "RetryOutcome": object(["requeued": "integer"]),
        "Me": object(["subject": "string", "role": "string", "organisation": "string?", "token_name": "string"]),
        "BoardItem": object(["ticket": "Ticket", "clocks": "[Clock]", "next_clock": "string?", "next_deadline": "time?", "share_left": "number?",
                             "escalation": "string?"]),
        "StepOutcome": object(["ticket": "Ticket", "clocks": "[Clock]"]),
        "ReportOutcome": object(["linked": "boolean", "ticket": "Ticket", "clocks": "[Clock]"]),
        "Solution": object(["id": "integer", "ticket_id": "integer", "proposed_by": "string", "proposed_at": "time", "diagnosis": "string",
                            "planned_work": "string", "parts": "string", "estimated_cost": "number?", "status": "string", "decided_by": "string?",
                            "decided_at": "time?", "decision_note": "string?"]),
        "AuditProblem": object(["record_id": "integer?", "kind": "string", "message": "string"]),
        "AuditVerification": object(["records": "integer", "head_id": "integer?", "head_hash": "string", "problem": "AuditProblem?"]),
        "ReportRequest": object(["device": "string", "channel": "string", "description": "string", "reporter": "string?", "stopped": "boolean?",
                                 "fault_code": "string?"], required: ["device", "channel", "description"]),
        "StepRequest": object(["reason": "string?", "pause_reason": "string?", "evidence": "string?", "at": "time?"]),
        "ProposeRequest": object(["diagnosis": "string", "work": "string", "parts": "string?", "cost": "number"], required: ["diagnosis", "work", "cost"]),
        "DecisionRequest": object(["approve": "boolean", "reason": "string?"], required: ["approve"]),
        "RatingRequest": object(["score": "integer", "comment": "string?"], required: ["score"]),
        "RatingOutcome": object(["ticket": "Ticket", "complaint": "Ticket?"]),
        "GradeRequest": object(["grade": "string", "reason": "string?"], required: ["grade"]),
        "Geo": object(["latitude": "number", "longitude": "number"]),
        "HeldSkill": object(["skill": "string", "certificate_until": "string?", "valid": "boolean"]),
        "Engineer": object(["id": "string", "name": "string", "role": "string", "skills": "[HeldSkill]", "service_point": "string?", "home": "Geo",
                            "max_jobs": "integer", "open_jobs": "[integer]", "position": "Geo?", "position_at": "time?"]),
        "ServicePoint": object(["id": "string", "name": "string", "position": "Geo", "radius_km": "number", "partner": "string?"]),
        "Partner": object(["id": "string", "name": "string", "skills": "[string]", "response_minutes": "integer"]),
        "Team": object(["engineers": "[Engineer]", "service_points": "[ServicePoint]", "partners": "[Partner]"]),
        "PositionRequest": object(["latitude": "number", "longitude": "number", "at": "time?"], required: ["latitude", "longitude"]),
        "Position": object(["engineer": "string", "position": "Geo", "at": "time"]),
        "DispatchCandidate": object(["engineer": "string", "name": "string", "rank": "integer", "eta_minutes": "integer", "arrives_at": "time",
                                     "distance_km": "number", "sla_slack_minutes": "integer?", "workload": "integer", "partner": "string?",
                                     "reasons": "[string]"]),
        "DispatchExclusion": object(["engineer": "string", "why": "string"]),
        "DispatchSuggestion": object(["ticket": "integer", "skills": "[string]", "parts": "[string]", "deadline": "time?", "candidates": "[DispatchCandidate]",
                                      "excluded": "[DispatchExclusion]"]),
        "AssignRequest": object(["engineer": "string", "reason": "string?"], required: ["engineer"]),
        "CostLine": object(["ticket": "integer", "visit": "integer", "device": "string", "model": "string", "fault_code": "string", "customer": "string",
                            "kind": "string", "item": "string", "quantity": "number", "unit_cost": "number?", "amount": "number?", "decision": "string",
                            "contract": "string?"]),
        "CostGroup": object(["key": "string", "warranty": "number", "contract": "number", "billable": "number", "labour_hours": "number",
                             "unpriced_lines": "integer"]),
        "Costs": object(["month": "string", "lines": "[CostLine]", "totals": "CostGroup", "by_ticket": "[CostGroup]", "by_model": "[CostGroup]",
                         "by_fault": "[CostGroup]", "by_customer": "[CostGroup]"]),
    ] }
}
