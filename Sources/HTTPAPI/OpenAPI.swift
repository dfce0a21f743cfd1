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
        result[route.method == .post && (route.body == "ReportRequest" || route.body == "ProposeRequest" || route.body == "RatingRequest") ? "201" : "200"] =
            ["description": route.response, "content": ["application/json": ["schema": schema]]]
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

    static func object(_ properties: [String: String], required: [String] = []) -> [String: Any] {
        var schema: [String: Any] = ["type": "object", "properties": properties.mapValues { type -> [String: Any] in
            type.hasSuffix("?") ? ["type": [String(type.dropLast()), "null"]] : ["type": type]
        }]
        if !required.isEmpty { schema["required"] = required }
        return schema
    }

    static var schemas: [String: Any] { [
        "Error": ["type": "object", "required": ["error"], "properties": ["error": object(["status": "integer", "code": "string", "message": "string"])]],
        "Site": object(["id": "string", "name": "string", "customer": "string", "tier": "string", "timezone": "string", "latitude": "number",
                        "longitude": "number", "devices": "integer", "open_tickets": "integer"]),
        "Device": object(["id": "string", "site": "string", "profile": "string", "name": "string?", "criticality": "integer", "status": "string",
                          "last_seen": "string?", "open_tickets": "integer", "sensors": "array"]),
        "Telemetry": object(["device": "string", "sensor": "string", "unit": "string", "from": "string", "to": "string", "samples": "array",
                             "count": "integer", "min": "number?", "max": "number?", "mean": "number?", "warning": "number?", "critical": "number?",
                             "rollup": "array?"]),
        "Ticket": object(["id": "integer", "site": "string", "device": "string", "sensor": "string?", "fault_code": "string", "source": "string",
                          "grade": "string", "status": "string", "title": "string", "opened_at": "string", "updated_at": "string",
                          "occurrences": "integer", "owner": "string?", "customer": "string?", "tier": "string", "paused": "boolean",
                          "drill": "boolean", "forecast": "object?"]),
        "TicketDetail": object(["ticket": "object", "allowed_actions": "array", "clocks": "array", "pauses": "array", "solutions": "array", "escalations": "array",
                                "detections": "array", "timeline": "array"]),
        "AskRequest": object(["question": "string", "device": "string?"], required: ["question"]),
        "AssistantAnswer": object(["answer": "string", "sources": "array", "intent": "string", "handover_ticket": "integer?", "handover": "string?"]),
        "KPIs": object(["month": "string", "timezone": "string", "kpis": "object", "table": "array"]),
        "Me": object(["subject": "string", "role": "string", "organisation": "string?", "token_name": "string"]),
        "BoardItem": object(["ticket": "object", "clocks": "array", "next_clock": "string?", "next_deadline": "string?", "share_left": "number?",
                             "escalation": "string?"]),
        "StepOutcome": object(["ticket": "object", "clocks": "array"]),
        "ReportOutcome": object(["linked": "boolean", "ticket": "object", "clocks": "array"]),
        "Solution": object(["id": "integer", "ticket_id": "integer", "status": "string", "diagnosis": "string", "planned_work": "string",
                            "estimated_cost": "number"]),
        "AuditVerification": object(["records": "integer", "head_id": "integer?", "head_hash": "string", "problem": "object?"]),
        "ReportRequest": object(["device": "string", "channel": "string", "description": "string", "reporter": "string?", "stopped": "boolean?",
                                 "fault_code": "string?"], required: ["device", "channel", "description"]),
        "StepRequest": object(["reason": "string?", "pause_reason": "string?", "evidence": "string?", "at": "string?"]),
        "ProposeRequest": object(["diagnosis": "string", "work": "string", "parts": "string?", "cost": "number"], required: ["diagnosis", "work", "cost"]),
        "DecisionRequest": object(["approve": "boolean", "reason": "string?"], required: ["approve"]),
        "RatingRequest": object(["score": "integer", "comment": "string?"], required: ["score"]),
        "RatingOutcome": object(["ticket": "object", "complaint": "object?"]),
        "GradeRequest": object(["grade": "string", "reason": "string?"], required: ["grade"]),
    ] }
}
