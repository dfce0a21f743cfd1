/// Every route of the API, a file per resource. The router and /openapi.json are both built
/// from this one list. New resources (engineers, visits, parts, cases) add a file and a line here.
enum APIRoutes {
    static let all: [RouteSpec] = SystemRoutes.all + TicketRoutes.all + SiteRoutes.all + FieldRoutes.all + ServiceRoutes.all
}
